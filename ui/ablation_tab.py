"""The Ablation tab of the web app: choose a manifest (from the manifest folders, or upload one), pick conditions,
run, and read the report (the table, the bar chart with intervals, the confusion matrices, report.html to download).

    with gr.Blocks() as app:
        build_ablation_tab(manifest_dirs=[Path("/tmp/manifests")])

It calls the same evaluation.ablation.run_ablation as `empathic ablate`, so the figures are the command's figures. An
uploaded manifest's relative paths would point into Gradio's upload folder: upload manifests with absolute paths,
or put the manifest next to its media in one of the manifest folders.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from evaluation.ablation import CONDITIONS

DEFAULT_LIMIT = 50  # the web run is a look, not the full evaluation: a seeded sample keeps it to a minute or two


def manifest_dirs_from_env() -> list[Path]:
    """$EMPATHIC_MANIFESTS (os.pathsep-separated folders) or none."""
    value = os.environ.get("EMPATHIC_MANIFESTS", "")
    return [Path(p) for p in value.split(os.pathsep) if p.strip()]


def list_manifests(folders: Sequence[Path]) -> list[str]:
    found: list[str] = []
    for folder in folders:
        if Path(folder).is_dir():
            found.extend(str(p) for p in sorted(Path(folder).glob("*.jsonl")))
    return found


def summary_markdown(report: dict) -> str:
    rows = ["| condition | n | coverage | accuracy | macro-F1 [95% CI] | weighted F1 |", "|---|---|---|---|---|---|"]
    for name, m in report["conditions"].items():
        if "macro_f1" not in m:
            rows.append(f"| {name} | {m['n']} | {m['coverage']:.2f} | no labels | | |")
            continue
        ci = m.get("ci95", {}).get("macro_f1")
        interval = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
        rows.append(f"| {name} | {m['n']} | {m['coverage']:.2f} | {m['accuracy']:.3f} | {m['macro_f1']:.3f}{interval}"
                    f" | {m['weighted_f1']:.3f} |")
    skipped = report["skipped"]
    lines = [f"**{Path(report['manifest']).name}**: {report['samples']} samples ({report['labelled']} labelled), "
             f"{skipped['total']} lines skipped, {report['timing']['wall_s']} s.", "", *rows]
    significant = [p for p in report["pairs"] if p["p_holm"] < 0.05]
    if significant:
        lines += ["", "Differences unlikely by chance (McNemar, Holm p < 0.05): " + "; ".join(
            f"{p['a']} vs {p['b']} (p = {p['p_holm']:.3g})" for p in significant)]
    if skipped["examples"]:
        lines += ["", "Skipped lines:", *[f"- {e}" for e in skipped["examples"][:10]]]
    return "\n".join(lines)


def run_for_ui(manifest: str | None, conditions: Sequence[str], limit: float | None, seed: float | None,
               out_root: Path | None = None) -> tuple[str, str | None, str | None, str | None, dict]:
    """Run the ablation; (markdown, bar chart png, confusion png, report.html, report) for the tab's outputs.
    Raises ValueError with one line on bad input (the tab shows it)."""
    from evaluation.ablation import parse_conditions, run_ablation
    from evaluation.ablation_report import BAR_CHART_PNG, CONFUSION_PNG, build_report, write_report

    if not manifest:
        raise ValueError("choose or upload a manifest first")
    chosen = parse_conditions(list(conditions or ()))
    limit_n = int(limit) if limit else None
    if limit_n is not None and limit_n < 1:
        raise ValueError("the limit must be at least 1 (or empty for every sample)")
    out = Path(tempfile.mkdtemp(prefix="ablation_", dir=out_root))
    run = run_ablation(manifest, chosen, out, limit=limit_n, seed=int(seed or 0), progress=True)
    report = build_report(run, seed=int(seed or 0), command=(
        f"empathic ablate {manifest} --conditions {','.join(chosen)} --out DIR"
        + (f" --limit {limit_n}" if limit_n else "") + f" --seed {int(seed or 0)}"))
    paths = write_report(report, out)

    def existing(key: str) -> str | None:
        return str(paths[key]) if key in paths else None

    return (summary_markdown(report), existing(BAR_CHART_PNG), existing(CONFUSION_PNG), str(paths["html"]), report)


SAMPLE_CONDITIONS = ("text", "audio", "text+audio", "face")


def build_ablation_tab(manifest_dirs: Sequence[Path] | None = None, out_root: Path | None = None) -> dict:
    """The Ablation tab, built inside an open gr.Blocks; returns its components by name (for tests and wiring)."""
    import gradio as gr

    folders = list(manifest_dirs) if manifest_dirs is not None else manifest_dirs_from_env()
    with gr.Tab("Ablation", id="ablation", elem_id="ablation-tab"):
        gr.Markdown("Text-only against multimodal on labelled examples: each condition lets fusion use only some "
                    "modalities, and the table says how often each got the label right. The same run as "
                    "`empathic ablate`.")
        sample = gr.Button("Run it on the bundled samples (5 spoken clips and a face, about a minute)",
                           variant="primary", elem_id="ablation-sample")
        with gr.Accordion("Or your own manifest", open=False):
            gr.Markdown("A manifest is JSON Lines: one example a line with `id`, `label` and any of `text`, `audio`, "
                        "`video`, `image` (`python -m evaluation.make_manifests --out DIR` writes them for the "
                        "development data; set `EMPATHIC_MANIFESTS=DIR` to list them here).")
            with gr.Row():
                choice = gr.Dropdown(list_manifests(folders), label="manifest", allow_custom_value=False,
                                     elem_id="ablation-manifest", scale=3)
                upload = gr.File(label="or upload one (.jsonl, absolute media paths)", file_types=[".jsonl"],
                                 elem_id="ablation-upload", scale=2)
            with gr.Row():
                conditions = gr.CheckboxGroup(list(CONDITIONS), value=["text", "audio", "text+audio"],
                                              label="conditions", elem_id="ablation-conditions")
                limit = gr.Number(DEFAULT_LIMIT, label="samples (seeded choice; empty: all)", precision=0,
                                  elem_id="ablation-limit")
                seed = gr.Number(0, label="seed", precision=0, elem_id="ablation-seed")
            start = gr.Button("Run the ablation on this manifest", elem_id="ablation-run")
        summary = gr.Markdown("", elem_id="ablation-summary")
        bars = gr.Image(label="macro-F1 by condition (95% intervals)", type="filepath", elem_id="ablation-bars",
                        height=380)
        confusions = gr.Image(label="confusion matrices", type="filepath", elem_id="ablation-confusions")
        html_file = gr.File(label="report.html", elem_id="ablation-html")
        with gr.Accordion("report.json", open=False):
            report_json = gr.JSON(label="report.json", elem_id="ablation-json")

        def answer(manifest: str | None, picked: Sequence[str], n: float | None, s: float | None):
            try:
                return run_for_ui(manifest, picked, n, s, out_root)
            except Exception as err:  # one line in plain words; the other outputs emptied, no badge on each
                text = str(err).strip()
                return (f"**Could not run the ablation:** {text.splitlines()[0] if text else type(err).__name__}",
                        None, None, None, None)

        def on_run(chosen: str | None, uploaded, picked: list[str], n: float | None, s: float | None,
                   progress=gr.Progress(track_tqdm=True)):
            manifest = uploaded if isinstance(uploaded, str) and uploaded else chosen
            return answer(manifest, picked, n, s)

        def on_sample(progress=gr.Progress(track_tqdm=True)):
            from ui.bundled_samples import write_sample_manifest

            manifest = write_sample_manifest(Path(tempfile.mkdtemp(prefix="ablation_samples_", dir=out_root)))
            return answer(str(manifest), SAMPLE_CONDITIONS, None, 0)

        outputs = [summary, bars, confusions, html_file, report_json]
        start.click(on_run, inputs=[choice, upload, conditions, limit, seed], outputs=outputs,
                    api_name="ablation_run")
        sample.click(on_sample, inputs=None, outputs=outputs, api_name="ablation_sample")
    return {"manifest": choice, "upload": upload, "conditions": conditions, "limit": limit, "seed": seed,
            "run": start, "sample": sample, "summary": summary, "bars": bars, "confusions": confusions,
            "html": html_file, "report": report_json}
