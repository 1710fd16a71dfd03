"""The Replay tab of the web app: pick a stored session or upload a video/audio file, replay it through the live
pipeline (the same ui.replay.replay as `empathic replay`), and read the same report.

    with gr.Blocks() as app:
        build_replay_tab(models, data_dir)

Replay runs on this computer with the app's loaded models; a remote LLM is never used for it (the replayed session
has no "remote" consent, so replies come from the local fallback, as they would live).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from ui.recorder import data_dir as default_data_dir
from ui.recorder import list_sessions, session_dir
from ui.replay import MEDIA_SUFFIXES, MODALITIES


def session_choices(data_dir: Path) -> list[tuple[str, str]]:
    """(label, id) of each stored session, newest first."""
    choices = []
    for s in list_sessions(data_dir):
        length = f"{s.duration_s:.0f} s" if isinstance(s.duration_s, (int, float)) else "?"
        choices.append((f"{s.session_id} ({s.created_utc or 'no meta'}, {length})", s.session_id))
    return choices


def run_for_ui(models: Any, data_dir: Path, session_id: str | None, uploaded: str | None, without: list[str],
               out_root: Path | None = None) -> tuple[str, str | None, str, str | None]:
    """(summary markdown, timeline png path, report html, report.html path). ValueError/MediaError for bad input."""
    from ui.replay import diff_lines, replay

    if uploaded:
        path = Path(uploaded)
        diff = False
    elif session_id:
        path = session_dir(data_dir, session_id)
        if not path.is_dir():
            raise ValueError(f"no stored session {session_id!r}")
        diff = (path / "events.jsonl").is_file()
    else:
        raise ValueError("pick a stored session or upload a video or audio file")
    out = Path(tempfile.mkdtemp(prefix="empathic-replay-", dir=out_root))
    result = replay(path, out, models, without=without or (), diff=diff, progress=True)
    s = result.summary
    lines = [f"**Replayed {s['media_s']:.1f} s** of {path.name} in {s['wall_s']:.1f} s "
             f"({s['x_real_time']:.1f}x real time): {s['turns']} turns, {s['events']} events."]
    lines += [f"- note: {p}" for p in s["problems"]]
    if result.diff is not None:
        lines.append("```\n" + "\n".join(diff_lines(result.diff)) + "\n```")
    html = result.report_path.read_text(encoding="utf-8")
    body = html[html.find("<body>") + len("<body>"):html.rfind("</body>")] if "<body>" in html else html
    png = out / "timeline.png"
    return "\n".join(lines), str(png) if png.exists() else None, body, str(result.report_path)


def build_replay_tab(models: Any, data_dir: str | Path | None = None, out_root: Path | None = None) -> dict:
    """The Replay tab, built inside an open gr.Blocks; returns its components by name (for tests and wiring)."""
    import gradio as gr

    folder = default_data_dir(data_dir)
    with gr.Tab("Replay", elem_id="replay-tab"):
        gr.Markdown("Replay a stored session, or any video or audio file, through the same pipeline as the live "
                    "demo, on this computer. The same report as `empathic replay`.")
        with gr.Row():
            stored = gr.Dropdown(session_choices(folder), label=f"stored session (in {folder})", value=None,
                                 allow_custom_value=False, elem_id="replay-session", scale=3)
            refresh = gr.Button("Refresh the list", scale=1, elem_id="replay-refresh")
            upload = gr.File(label="or upload a file", file_types=list(MEDIA_SUFFIXES), type="filepath",
                             elem_id="replay-upload", scale=2)
        without = gr.CheckboxGroup(list(MODALITIES), value=[], label="switch off", elem_id="replay-without")
        start = gr.Button("Replay", variant="primary", elem_id="replay-run")
        summary = gr.Markdown("", elem_id="replay-summary")
        timeline = gr.Image(label="timeline", type="filepath", elem_id="replay-timeline")
        report_file = gr.File(label="report.html", elem_id="replay-report-file")
        report_html = gr.HTML("", elem_id="replay-report")

        def on_refresh():
            return gr.update(choices=session_choices(folder), value=None)

        def on_run(session_id: str | None, uploaded: str | None, off: list[str],
                   progress=gr.Progress(track_tqdm=True)):
            try:
                text, png, html, path = run_for_ui(models, folder, session_id, uploaded, off, out_root)
            except Exception as err:  # bad input is said in one line on screen
                raise gr.Error(str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__) \
                    from None
            return text, png, path, html

        refresh.click(on_refresh, inputs=None, outputs=[stored], api_visibility="private")
        start.click(on_run, inputs=[stored, upload, without], outputs=[summary, timeline, report_file, report_html],
                    api_name="replay_run")
    return {"session": stored, "refresh": refresh, "upload": upload, "without": without, "run": start,
            "summary": summary, "timeline": timeline, "report_file": report_file, "report": report_html}
