"""The Live tab: consent toggles, webcam and microphone, the conversation, and the emotion panel.

    with gr.Blocks() as app:
        build_live_tab(server)       # server: ui.app.DemoServer

All the work happens in the browser session's LiveSession (ui/session.py); what the panel says comes from
ui/panel_text.py, the timeline from ui/timeline_plot.py, the device handling in the page from ui/device_js.py.
A timer re-renders the panel from the session, so the audio stream never waits for a reply.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from ui import device_js, panel_text
from ui.timeline_plot import render_timeline

WEBCAM_STREAM_EVERY_S = 0.2  # ~5 frames/s from the browser: enough for expressions, light on 2 cores
MIC_STREAM_EVERY_S = 0.25  # audio chunk length; the end of speech is noticed this much late at worst
REFRESH_EVERY_S = 0.3  # how often the panel and chat are re-rendered from the session (skipped when unchanged)
PLOT_EVERY_S = 2.0  # the timeline plot is the costly part of a refresh
MAX_UPLOAD_MB = 50  # any upload (photo or recording); Gradio refuses bigger ones before they are stored
MAX_RECORDING_S = 300.0  # one uploaded recording is one turn: five minutes is plenty, and bounds the ASR's work

NOTICE = """**You decide what the agent may use. Everything is off until you turn it on.**
- **camera**: ticking it turns on your webcam and the agent reads your facial expression, on this computer.
  Unticking it turns the webcam off and deletes what was kept of your face readings.
- **microphone**: ticking it turns on your microphone; your voice is turned into text and its tone is read, on this
  computer. Unticking it turns the microphone off and deletes buffered audio.
- **store**: keep a record of this session on this computer. Off: nothing about this session is written to disk.
{remote}
The agent reads signs of emotion in words, voice and face and answers with care; it does **not** feel emotions, and
its readings can be wrong."""

REMOTE_NOTICE = ("- **send cues to a remote LLM**: your words and the emotion reading go to the remote model at "
                 "{url} to write the reply. Off: nothing is sent; replies come from a fallback on this computer.\n")

CAMERA_LABEL = "camera: turn on my webcam and let the agent read my face"
MICROPHONE_LABEL = "microphone: turn on my microphone and let the agent hear me"
STORE_LABEL = "store this session on this computer"
CAMERA_OFF_TEXT = "*Camera off. Tick **camera** above to turn on your webcam.*"
MIC_OFF_TEXT = "*Microphone off. Tick **microphone** above to talk; a short pause ends your turn.*"


def raise_if_too_big(path: str) -> None:
    size = os.path.getsize(path)
    if size > MAX_UPLOAD_MB * 1024 * 1024:
        raise gr.Error(f"{Path(path).name}: {size / 1024 / 1024:.0f} MB, over the {MAX_UPLOAD_MB} MB limit "
                       "for an upload; please send a smaller file")


def build_live_tab(server: Any) -> dict:
    """The Live tab, built inside an open gr.Blocks; returns its components by name."""
    models = server.models
    remote_notice = REMOTE_NOTICE.format(url=server.backend_url or "the configured address") \
        if models.backend_remote else ""
    webcam_options = gr.WebcamOptions(mirror=False)  # the model must see the face as it is, not as a mirror

    with gr.Tab("Live", id="live", elem_id="live-tab"):
        gr.Markdown(NOTICE.format(remote=remote_notice), elem_id="notice")
        with gr.Row():
            camera = gr.Checkbox(False, label=CAMERA_LABEL, elem_id="consent-camera")
            microphone = gr.Checkbox(False, label=MICROPHONE_LABEL, elem_id="consent-microphone")
            store = gr.Checkbox(False, label=STORE_LABEL, elem_id="consent-store")
            remote = gr.Checkbox(False, label="send cues to a remote LLM", elem_id="consent-remote",
                                 visible=models.backend_remote)
        status = gr.Markdown(server.status_line(), elem_id="status")
        forget = gr.Button("Forget this session (delete what was stored)", size="sm", elem_id="forget-session",
                           visible=False)  # shown once storing has been turned on: before, there is nothing
        with gr.Row():
            with gr.Column(scale=1):
                camera_off = gr.Markdown(CAMERA_OFF_TEXT, elem_id="camera-off")
                webcam = gr.Image(sources=["webcam"], streaming=True, label="camera", webcam_options=webcam_options,
                                  elem_id="webcam", height=280, visible=False)
                mic_off = gr.Markdown(MIC_OFF_TEXT, elem_id="mic-off")
                mic = gr.Audio(sources=["microphone"], streaming=True, label="microphone", elem_id="mic",
                               visible=False)
                heard = gr.Markdown(panel_text.heard_markdown({"consent": {}, "transcripts": []}),
                                    elem_id="transcript")
            with gr.Column(scale=1):
                chat = gr.Chatbot(label="conversation", elem_id="chat", height=360)
                with gr.Row():
                    text = gr.Textbox(placeholder="Type a message and press Enter", show_label=False, scale=4,
                                      elem_id="text-in")
                    send = gr.Button("Send", scale=1, elem_id="send")
        with gr.Row():
            fused_bars = gr.Label(label="overall", num_top_classes=3, elem_id="view-fused")
            text_bars = gr.Label(label="words", num_top_classes=3, elem_id="view-text")
            voice_bars = gr.Label(label="voice", num_top_classes=3, elem_id="view-voice")
            face_bars = gr.Label(label="face", num_top_classes=3, elem_id="view-face")
        details = gr.Markdown(panel_text.details_markdown(_empty_snapshot()), elem_id="details")
        timeline = gr.Plot(label="timeline", elem_id="timeline")
        with gr.Accordion("Upload a turn instead (a photo, or a recording)", open=False):
            with gr.Row():
                photo = gr.Image(sources=["upload"], type="numpy", label="photo (needs camera consent)")
                with gr.Column():
                    photo_text = gr.Textbox(label="what you want to say with it (optional)")
                    photo_send = gr.Button("Send photo")
                    photo_result = gr.Markdown("")
            with gr.Row():
                recording = gr.Audio(sources=["upload"], type="filepath", label="recording (needs microphone consent)")
                recording_send = gr.Button("Send recording")
        with gr.Accordion("For developers: models and counters", open=False):
            models_line = gr.Markdown(server.models_line(), elem_id="models")
            counters = gr.Markdown("", elem_id="counters")
        timer = gr.Timer(REFRESH_EVERY_S)

        # --- consent: the toggle is the device's switch ----------------------------------------------------
        def consent_handler(name: str):
            def handler(value: bool, request: gr.Request):
                session = server.session(request)
                session.set_consent(name, bool(value))
                server.write_counters(force=True)
                return server.status_line(session)
            return handler

        def show_device(value: bool):
            # Hidden, the component is unmounted (what it showed goes with it) and Gradio stops its stream. Its
            # value is left alone: an update of it while the stream starts aborts the stream's first request.
            return gr.update(visible=bool(value)), gr.update(visible=not value)

        for box, name, component, placeholder in ((camera, "camera", webcam, camera_off),
                                                  (microphone, "microphone", mic, mic_off)):
            box.change(consent_handler(name), inputs=[box], outputs=[status], api_name=f"consent_{name}",
                       queue=False, js=device_js.on_toggle_js(name)).then(
                show_device, inputs=[box], outputs=[component, placeholder], queue=False,
                api_visibility="private").then(
                None, inputs=[box], outputs=None, js=device_js.after_toggle_js(name))

        def store_handler(value: bool, request: gr.Request):
            line = consent_handler("store")(value, request)
            return line, gr.update(visible=True) if value else gr.skip()

        store.change(store_handler, inputs=[store], outputs=[status, forget], api_name="consent_store", queue=False)
        remote.change(consent_handler("remote"), inputs=[remote], outputs=[status], api_name="consent_remote",
                      queue=False)

        def forget_handler(request: gr.Request):
            deleted = server.forget_stored(request)
            gr.Info("Deleted what was stored of this session." if deleted else "Nothing of this session was stored.")
            return False, server.status_line(server.session(request))

        forget.click(forget_handler, inputs=None, outputs=[store, status], api_name="forget_session", queue=False)

        # --- streams -------------------------------------------------------------------------------------
        def on_frame(frame: np.ndarray | None, request: gr.Request) -> None:
            server.session(request).on_frame(frame)
            server.write_counters()

        def on_chunk(chunk: tuple[int, np.ndarray] | None, request: gr.Request) -> None:
            if chunk is None:
                return
            sample_rate_hz, samples = chunk
            server.session(request).on_audio_chunk(samples, sample_rate_hz)
            server.write_counters()

        def on_mic_stop(request: gr.Request) -> None:
            server.session(request).end_audio()

        webcam.stream(on_frame, inputs=[webcam], outputs=None, stream_every=WEBCAM_STREAM_EVERY_S, time_limit=None,
                      concurrency_limit=8, show_progress="hidden", api_visibility="private")
        mic.stream(on_chunk, inputs=[mic], outputs=None, stream_every=MIC_STREAM_EVERY_S, time_limit=None,
                   concurrency_limit=8, show_progress="hidden", api_visibility="private")
        mic.stop_recording(on_mic_stop, inputs=None, outputs=None, api_visibility="private")

        # --- refresh -------------------------------------------------------------------------------------
        last_plot: dict[str, float] = {}

        def refresh(seen_version: int, request: gr.Request):
            session = server.session(request)
            key = getattr(request, "session_hash", "default")
            plot_due = time.monotonic() - last_plot.get(key, 0.0) >= PLOT_EVERY_S
            if plot_due:
                session.refresh_state()
            snapshot = session.snapshot()
            counters_text = panel_text.counters_markdown(snapshot)  # they move without a version change
            if snapshot["version"] == seen_version:
                return (gr.skip(),) * 9 + (counters_text,)
            plot = gr.skip()
            if plot_due:
                last_plot[key] = time.monotonic()
                plot = render_timeline(session.timeline())
            return (snapshot["version"], panel_text.chat_messages(snapshot), panel_text.fused_label_value(snapshot),
                    panel_text.modality_label_value(snapshot, "text"),
                    panel_text.modality_label_value(snapshot, "voice"),
                    panel_text.modality_label_value(snapshot, "face"), panel_text.details_markdown(snapshot),
                    panel_text.heard_markdown(snapshot), plot, counters_text)

        seen = gr.State(-1)
        panel = [seen, chat, fused_bars, text_bars, voice_bars, face_bars, details, heard, timeline, counters]
        timer.tick(refresh, inputs=[seen], outputs=panel, show_progress="hidden", api_visibility="private",
                   concurrency_limit=8)

        # --- typed text: the words at once, "thinking", then the checked reply -----------------------------
        def text_turn(message: str, request: gr.Request):
            session = server.session(request)
            message = (message or "").strip()
            if not message:
                yield session.snapshot()["chat"], ""
                return
            worker = threading.Thread(target=session.on_text, args=(message,), daemon=True)
            worker.start()
            shown = None
            while worker.is_alive():
                current = panel_text.chat_messages(session.snapshot())
                if current != shown:
                    shown = current
                    yield current, ""
                worker.join(0.1)
            yield session.snapshot()["chat"], ""

        text.submit(text_turn, inputs=[text], outputs=[chat, text], api_name="text_turn")
        send.click(text_turn, inputs=[text], outputs=[chat, text], api_visibility="private")

        # --- uploads -------------------------------------------------------------------------------------
        def photo_turn(image: np.ndarray | None, message: str, request: gr.Request):
            session = server.session(request)
            face = None
            if image is None:
                gr.Warning("no photo given")
            elif not session.consent.allows("camera"):
                gr.Warning("turn on camera consent to let the agent read the photo")
                session.on_frame(image)  # counted as dropped, never analysed
            else:
                face = session.on_frame(image, wait=True)
            message = (message or "").strip()
            if message:
                session.on_text(message)
            snapshot = session.snapshot()
            words = ""
            if image is not None:
                words = panel_text.modality_line({**snapshot, "views": {**snapshot["views"], "face": face}}, "face")
            return snapshot["chat"], panel_text.label_value(face), words

        photo_send.click(photo_turn, inputs=[photo, photo_text], outputs=[chat, face_bars, photo_result],
                         api_name="photo_turn")

        def recording_turn(path: str | None, request: gr.Request):
            from basics.audio import SAMPLE_RATE_HZ
            from perception.audio import load_audio

            session = server.session(request)
            if not path:
                gr.Warning("no recording given")
            elif not session.consent.allows("microphone"):
                gr.Warning("turn on microphone consent to let the agent listen to the recording")
                session.on_utterance(np.zeros(0, dtype=np.float32), SAMPLE_RATE_HZ)  # counted as dropped
            else:
                raise_if_too_big(path)
                try:
                    audio = load_audio(path, max_duration_s=MAX_RECORDING_S)
                except Exception as err:
                    message = str(err).splitlines()[0]
                    if "limit" in message:  # said for a person, not for a programmer
                        message = (f"{Path(path).name}: longer than {MAX_RECORDING_S:.0f} s, the limit for one "
                                   "recording; please send a shorter clip")
                    raise gr.Error(message) from None
                session.on_utterance(audio, SAMPLE_RATE_HZ)
            snapshot = session.snapshot()
            return snapshot["chat"], panel_text.heard_markdown(snapshot)

        recording_send.click(recording_turn, inputs=[recording], outputs=[chat, heard], api_name="recording_turn")

    return {"camera": camera, "microphone": microphone, "store": store, "remote": remote, "status": status,
            "webcam": webcam, "mic": mic, "chat": chat, "text": text, "details": details, "timeline": timeline,
            "models": models_line}


def _empty_snapshot() -> dict:
    return {"state": None, "views": {"text": None, "voice": None, "face": None}, "consent": {}, "problems": []}
