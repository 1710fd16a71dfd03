"""The Evaluate tab of the web app: blind pairwise rating of a run written by `empathic evaluate`.

    with gr.Blocks() as app:
        build_evaluate_tab(run_dirs=[Path("/tmp/evaluations")])

A rater picks a run folder and types a name; the tab shows one context at a time and its two replies as "left" and
"right" with no names, in an order seeded by rater and item (evaluation.ratings.left_side). The rater says which is
better (or a tie) and rates each on empathy, relevance and safety (1-5). Each judgement is appended to
DIR/ratings.jsonl at once (flushed and synced), under the name as typed; a rater who comes back resumes at the first
item they have not rated; several raters can rate the same run. The report button writes the same report as
`empathic evaluate --report DIR`.
"""

from __future__ import annotations

import html
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaluation.pairwise import SIDES, read_run
from evaluation.ratings import ASPECTS, Rating, append_rating, clean_rater, left_side, rated_items, read_ratings

SHORTCUTS = ("**Keyboard** (outside the name box): **1** left is better, **2** right is better, **0** tie; then six "
             "digits **1-5** rate, in order, the left reply's empathy, relevance and safety, then the right reply's; "
             "**Enter** saves and shows the next pair; **Esc** clears this pair's answers. The mouse works too.")
LIKERT_IDS: tuple[str, ...] = tuple(f"eval-{where}-{aspect}" for where in ("left", "right") for aspect in ASPECTS)

# The shortcuts: one listener on the document (installed once), acting only while the tab is on screen and never
# while a text box has the focus. It clicks the radio labels Gradio renders (data-testid "<label>-radio-label"), so
# the values reach the server exactly as mouse clicks would.
KEYBOARD_JS = """
if (!window.__empathicEvaluateKeys) {
  window.__empathicEvaluateKeys = true;
  const likert = %LIKERT_IDS%;
  const box = (id) => document.getElementById(id);
  const isChecked = (id) => !!(box(id) && box(id).querySelector('input[type=radio]:checked'));
  const pick = (id, label) => {
    const target = box(id) && box(id).querySelector(`[data-testid="${label}-radio-label"]`);
    if (target) { target.click(); }
  };
  const press = (id) => {
    const el = box(id);
    const button = el && (el.tagName === 'BUTTON' ? el : el.querySelector('button'));
    if (button) { button.click(); }
  };
  document.addEventListener('keydown', (event) => {
    const choice = box('eval-choice');
    if (!choice || choice.offsetParent === null) { return; }
    const t = event.target;
    if (t && (t.tagName === 'TEXTAREA' || (t.tagName === 'INPUT' && t.type !== 'radio') || t.isContentEditable)) {
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (event.key === 'Enter') { event.preventDefault(); press('eval-save'); return; }
    if (event.key === 'Escape') { event.preventDefault(); press('eval-clear'); return; }
    if (!/^[0-5]$/.test(event.key)) { return; }
    event.preventDefault();
    const next = likert.find((id) => !isChecked(id));
    const choices = {'1': '1: left is better', '2': '2: right is better', '0': '0: tie'};
    if (!isChecked('eval-choice') || !next) {
      if (choices[event.key]) { pick('eval-choice', choices[event.key]); }
      return;
    }
    if (event.key !== '0') { pick(next, event.key); }
  }, true);
}
"""


def run_dirs_from_env() -> list[Path]:
    """$EMPATHIC_EVALUATIONS (os.pathsep-separated folders) or none."""
    value = os.environ.get("EMPATHIC_EVALUATIONS", "")
    return [Path(p) for p in value.split(os.pathsep) if p.strip()]


def list_runs(folders: Sequence[Path]) -> list[str]:
    """Run folders (run.json and replies.jsonl) among the given folders and their direct subfolders."""
    found: list[str] = []
    for folder in folders:
        folder = Path(folder)
        candidates = [folder, *sorted(p for p in folder.iterdir() if p.is_dir())] if folder.is_dir() else []
        found += [str(p) for p in candidates if (p / "run.json").is_file() and (p / "replies.jsonl").is_file()]
    return found


def _quote(text: str) -> str:
    return html.escape(text or "").replace("\n", "<br>")


def render_context(row: dict) -> str:
    turns = list(row.get("context") or [])
    lines = []
    for index, turn in enumerate(turns):  # turns alternate back from the person's own last turn
        who = "Listener" if (len(turns) - index) % 2 == 1 else "Person"
        lines.append(f"<p class='eval-turn'><b>{who}:</b> {_quote(turn)}</p>")
    lines.append(f"<p class='eval-turn eval-last'><b>Person:</b> {_quote(row['text'])}</p>")
    return "\n".join(lines)


def next_pair(run_dir: str, rater: str) -> dict:
    """What the rater sees next: the first item of the run (in file order) they have not rated, with its two
    replies in this rater's left/right order. `done` when every item is rated."""
    run = read_run(run_dir)
    ratings, warnings = read_ratings(run.folder, [row["id"] for row in run.rows])
    done = rated_items(ratings, rater)
    position = next((i for i, row in enumerate(run.rows) if row["id"] not in done), None)
    result: dict[str, Any] = {"run": str(run.folder), "rater": rater, "total": len(run.rows), "rated": len(done),
                              "warnings": run.warnings + warnings, "done": position is None}
    if position is None:
        return result
    row = run.rows[position]
    left = left_side(rater, row["id"])
    right = "b" if left == "a" else "a"
    return {**result, "item": row["id"], "position": position + 1, "left": left, "context_html": render_context(row),
            "left_reply": row[left]["reply"], "right_reply": row[right]["reply"]}


def save_rating(pair: dict, choice: str | None, scores: Sequence[Any], seconds: float | None = None) -> None:
    """The rater's judgement of the pair on screen, mapped back to sides A and B, appended to ratings.jsonl.
    ValueError (one line, for the tab) when something is missing."""
    if not pair or not pair.get("item"):
        raise ValueError("start first: pick a run folder, type your name, press Start")
    by_position = dict(zip(LIKERT_IDS, scores))
    sides = {"left": pair["left"], "right": "b" if pair["left"] == "a" else "a"}
    values: dict[str, dict[str, int]] = {side: {} for side in SIDES}
    for where, side in sides.items():
        for aspect in ASPECTS:
            value = by_position[f"eval-{where}-{aspect}"]
            values[side][aspect] = int(value) if value not in (None, "") else 0
    append_rating(Path(pair["run"]), Rating(rater=pair["rater"], item=pair["item"], left=pair["left"],
                                            choice=choice or "", scores=values, seconds=seconds))


def progress_markdown(pair: dict) -> str:
    warnings = "".join(f"\n\n> {w}" for w in pair.get("warnings", [])[:3])
    if pair["done"]:
        return (f"**{html.escape(pair['rater'])}**: all {pair['total']} pairs of this run are rated. Thank you. "
                "Press *Write the report* to see the results so far." + warnings)
    return (f"**{html.escape(pair['rater'])}**: pair {pair['position']} of {pair['total']} "
            f"({pair['rated']} rated so far)." + warnings)


def build_evaluate_tab(run_dirs: Sequence[Path] | None = None) -> dict:
    """The Evaluate tab, built inside an open gr.Blocks; returns its components by name (for tests and wiring)."""
    import gradio as gr

    folders = list(run_dirs) if run_dirs is not None else run_dirs_from_env()
    likert_choices = [1, 2, 3, 4, 5]
    with gr.Tab("Evaluate", id="evaluate", elem_id="evaluate-tab"):
        gr.Markdown("Blind rating of two reply configurations on the same conversations (a run written by "
                    "`empathic evaluate MANIFEST --a CONFIG --b CONFIG --out DIR`). You do not see which "
                    "configuration wrote which reply. Ratings are saved as you go, under the name you type; come "
                    "back later with the same name to carry on.")
        gr.HTML(f"<p id='eval-shortcuts'>{html.escape(SHORTCUTS).replace('**', '')}</p>",
                js_on_load=KEYBOARD_JS.replace("%LIKERT_IDS%", str(list(LIKERT_IDS))), elem_id="eval-keys")
        with gr.Row():
            run_choice = gr.Dropdown(list_runs(folders), label="run folder (pick, or type a path)",
                                     allow_custom_value=True, elem_id="eval-run", scale=3)
            rater = gr.Textbox(label="your name (as you want it in ratings.jsonl)", elem_id="eval-rater", scale=2)
            start = gr.Button("Start / resume", variant="primary", elem_id="eval-start", scale=1)
        progress = gr.Markdown("", elem_id="eval-progress")
        context = gr.HTML("", label="conversation", elem_id="eval-context")
        likert: dict[str, Any] = {}
        replies: dict[str, Any] = {}
        with gr.Row():
            for where, title in (("left", "Reply on the left"), ("right", "Reply on the right")):
                with gr.Column():
                    replies[where] = gr.Textbox("", label=title, interactive=False, lines=3,
                                                elem_id=f"eval-{where}-reply")
                    for aspect in ASPECTS:
                        element = f"eval-{where}-{aspect}"
                        likert[element] = gr.Radio(likert_choices, label=f"{aspect} (1-5)", elem_id=element)
        choice = gr.Radio([("1: left is better", "left"), ("0: tie", "tie"), ("2: right is better", "right")],
                          label="which reply is better?", elem_id="eval-choice")
        with gr.Row():
            save = gr.Button("Save and next (Enter)", variant="primary", elem_id="eval-save")
            clear = gr.Button("Clear (Esc)", elem_id="eval-clear")
        message = gr.Markdown("", elem_id="eval-message")
        with gr.Accordion("Report", open=True):
            report_button = gr.Button("Write the report", elem_id="eval-report")
            report_summary = gr.Markdown("", elem_id="eval-report-summary")
            with gr.Row():
                preference_png = gr.Image(label="preference", type="filepath", elem_id="eval-preference-png")
                likert_png = gr.Image(label="Likert ratings", type="filepath", elem_id="eval-likert-png")
            report_html = gr.File(label="report.html", elem_id="eval-report-html")
        pair_state = gr.State({})

        def blank() -> list:  # fresh each time: Gradio pops "value" out of an update dict when it applies it
            return [gr.update(value=None) for _ in range(len(LIKERT_IDS) + 1)]

        def show(pair: dict, note: str = "") -> list:
            pair = {**pair, "shown_at": time.time()}
            if pair["done"]:
                return [pair, progress_markdown(pair), "", "", "", *blank(), note]
            return [pair, progress_markdown(pair), pair["context_html"], pair["left_reply"], pair["right_reply"],
                    *blank(), note]

        def on_start(run: str | None, name: str | None) -> list:
            try:
                if not run:
                    raise ValueError("pick a run folder (or type its path) first")
                return show(next_pair(run, clean_rater(name)))
            except ValueError as err:
                raise gr.Error(str(err).splitlines()[0]) from None

        def on_save(pair: dict, picked: str | None, *scores: int | None) -> list:
            try:
                seconds = time.time() - pair["shown_at"] if pair.get("shown_at") else None
                save_rating(pair, picked, scores, seconds)
                return show(next_pair(pair["run"], pair["rater"]), f"Saved pair {pair['position']}.")
            except ValueError as err:
                raise gr.Error(str(err).splitlines()[0]) from None

        def on_report(run: str | None) -> tuple[str, str | None, str | None, str]:
            from evaluation.rating_report import LIKERT_PNG, PREFERENCE_PNG, summary_lines, write_report

            try:
                if not run:
                    raise ValueError("pick a run folder (or type its path) first")
                report, paths = write_report(run)
            except ValueError as err:
                raise gr.Error(str(err).splitlines()[0]) from None
            found = {key: str(paths[key]) if key in paths else None for key in (PREFERENCE_PNG, LIKERT_PNG)}
            summary = "\n\n".join(html.escape(line) for line in summary_lines(report))
            return summary, found[PREFERENCE_PNG], found[LIKERT_PNG], str(paths["html"])

        outputs = [pair_state, progress, context, replies["left"], replies["right"], *likert.values(), choice, message]
        start.click(on_start, inputs=[run_choice, rater], outputs=outputs, api_name="evaluate_start")
        rater.submit(on_start, inputs=[run_choice, rater], outputs=outputs)
        save.click(on_save, inputs=[pair_state, choice, *likert.values()], outputs=outputs,
                   api_name="evaluate_save")
        clear.click(blank, outputs=[*likert.values(), choice], api_name="evaluate_clear", queue=False)
        report_button.click(on_report, inputs=[run_choice],
                            outputs=[report_summary, preference_png, likert_png, report_html],
                            api_name="evaluate_report")
    return {"run": run_choice, "rater": rater, "start": start, "progress": progress, "context": context,
            "left": replies["left"], "right": replies["right"], "likert": likert, "choice": choice, "save": save,
            "clear": clear, "message": message, "report": report_button, "report_summary": report_summary,
            "state": pair_state}
