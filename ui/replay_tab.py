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

from ui.bundled_samples import SAMPLE_SESSION, plain_note, session_from_upload
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


def run_for_ui(models: Any, data_dir: Path, session_id: str | None, uploaded: str | list[str] | None,
               without: list[str], out_root: Path | None = None,
               path: Path | None = None) -> tuple[str, str | None, str, str | None]:
    """(summary markdown, timeline png path, report html, report.html path). ValueError/MediaError for bad input.
    `path` replays that folder or file directly (the bundled sample); else an upload (a media file, a zip of a
    session or the files of a session folder), else the stored session picked."""
    from ui.replay import replay
    from ui.timeline_file import diff_lines

    work = Path(tempfile.mkdtemp(prefix="empathic-replay-", dir=out_root))
    if path is None and uploaded:
        path = session_from_upload([uploaded] if isinstance(uploaded, str) else list(uploaded), work / "upload")
    elif path is None and session_id:
        path = session_dir(data_dir, session_id)
        if not path.is_dir():
            raise ValueError(f"no stored session {session_id!r}")
    elif path is None:
        raise ValueError("pick a stored session or the sample session, or upload a session or a video or audio file")
    diff = path.is_dir() and (path / "events.jsonl").is_file()
    out = work / "out"
    result = replay(path, out, models, without=without or (), diff=diff, progress=True)
    s = result.summary
    name = "the sample session" if path == SAMPLE_SESSION else path.name
    lines = [f"**Replayed {s['media_s']:.1f} s** of {name} in {s['wall_s']:.1f} s "
             f"({s['x_real_time']:.1f}x real time): {s['turns']} turns, {s['events']} events."]
    lines += [f"- {plain_note(p)}" for p in s["problems"]]
    if result.diff is not None:
        lines.append("Compared with what was recorded:\n```\n" + "\n".join(diff_lines(result.diff)) + "\n```")
    html = result.report_path.read_text(encoding="utf-8")
    body = html[html.find("<body>") + len("<body>"):html.rfind("</body>")] if "<body>" in html else html
    png = out / "timeline.png"
    return "\n".join(lines), str(png) if png.exists() else None, body, str(result.report_path)


def one_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def build_replay_tab(models: Any, data_dir: str | Path | None = None, out_root: Path | None = None) -> dict:
    """The Replay tab, built inside an open gr.Blocks; returns its components by name (for tests and wiring)."""
    import gradio as gr

    folder = default_data_dir(data_dir)
    with gr.Tab("Replay", id="replay", elem_id="replay-tab"):
        gr.Markdown("Replay a recorded session, or any video or audio file, through the same pipeline as the live "
                    "demo, on this computer, and read the same report as `empathic replay`.")
        sample = gr.Button("Replay the sample session (a face, three spoken turns)", variant="primary",
                           elem_id="replay-sample")
        with gr.Accordion("Or your own: a stored session, a session folder or zip, a video or audio file",
                          open=False):
            with gr.Row():
                stored = gr.Dropdown(session_choices(folder), label=f"stored session (in {folder})", value=None,
                                     allow_custom_value=False, elem_id="replay-session", scale=3)
                refresh = gr.Button("Refresh the list", scale=1, elem_id="replay-refresh")
            with gr.Row():
                upload = gr.File(label="a video or audio file, or a zip of a session", file_count="single",
                                 file_types=[*MEDIA_SUFFIXES, ".zip"], type="filepath", elem_id="replay-upload")
                upload_folder = gr.File(label="or a session folder", file_count="directory", type="filepath",
                                        elem_id="replay-upload-folder")
            without = gr.CheckboxGroup(list(MODALITIES), value=[], label="switch off", elem_id="replay-without")
            start = gr.Button("Replay what I chose", elem_id="replay-run")
        summary = gr.Markdown("", elem_id="replay-summary")
        timeline = gr.Image(label="timeline", type="filepath", elem_id="replay-timeline", show_label=True)
        report_file = gr.File(label="report.html", elem_id="replay-report-file")
        report_html = gr.HTML("", elem_id="replay-report")

        def on_refresh():
            return gr.update(choices=session_choices(folder), value=None)

        def answer(run: Any):
            try:
                text, png, html, path = run()
            except Exception as err:  # bad input: one line in plain words, the other outputs emptied
                return f"**Could not replay:** {one_line(err)}", None, None, ""
            return text, png, path, html

        def on_run(session_id: str | None, uploaded: str | None, uploaded_folder: list[str] | None, off: list[str],
                   progress=gr.Progress(track_tqdm=True)):
            chosen = uploaded or uploaded_folder or None
            return answer(lambda: run_for_ui(models, folder, session_id, chosen, off, out_root))

        def on_sample(progress=gr.Progress(track_tqdm=True)):
            return answer(lambda: run_for_ui(models, folder, None, None, [], out_root, path=SAMPLE_SESSION))

        outputs = [summary, timeline, report_file, report_html]
        refresh.click(on_refresh, inputs=None, outputs=[stored], api_visibility="private")
        start.click(on_run, inputs=[stored, upload, upload_folder, without], outputs=outputs,
                    api_name="replay_run")
        sample.click(on_sample, inputs=None, outputs=outputs, api_name="replay_sample")
    return {"session": stored, "refresh": refresh, "upload": upload, "upload_folder": upload_folder,
            "without": without, "run": start, "sample": sample, "summary": summary, "timeline": timeline,
            "report_file": report_file, "report": report_html}
