"""The live web demo (Gradio): webcam, microphone and typed text in; the agent's replies and its reading of the
person's emotion out, every modality behind a consent toggle that is off until the person turns it on.

The browser only streams media and shows results; all the work happens in ui/session.py's LiveSession, one per
browser session (keyed by Gradio's session hash, so two people never share emotion, text or consent). A timer
re-renders the panel from the session, so the audio stream never waits for a reply and a spoken reply appears on
screen as it is written.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from perception.cues import LABELS, top_label
from ui.recorder import SessionRecorder, run_metadata
from ui.recorder import data_dir as sessions_data_dir
from ui.session import LiveSession, SessionModels, load_models

WEBCAM_STREAM_EVERY_S = 0.2  # ~5 frames/s from the browser: enough for expressions, light on 2 cores
MIC_STREAM_EVERY_S = 0.25  # audio chunk length; the end of speech is noticed this much late at worst
REFRESH_EVERY_S = 0.4  # how often the panel and chat are re-rendered from the session (skipped when unchanged)
PLOT_EVERY_S = 2.0  # the timeline plot is the costly part of a refresh
SESSION_IDLE_CLOSE_S = 3600.0
MAX_UPLOAD_MB = 50  # any upload (photo or recording); Gradio refuses bigger ones before they are stored
MAX_RECORDING_S = 300.0  # one uploaded recording is one turn: five minutes is plenty, and bounds the ASR's work

NOTICE = """**You decide what the agent may use. Everything is off until you turn it on.**
- **camera**: webcam frames (and photos you upload) are read for facial expression, on this computer. Off: frames are
  dropped before any model sees them, and what was kept of your face readings is deleted.
- **microphone**: your voice (live or uploaded) is turned into text and its tone is read, on this computer. Off: audio
  is dropped before any model hears it, and buffered audio is deleted.
- **store**: keep a record of this session on this computer. Off: nothing about this session is written to disk.
{remote}
The agent reads signs of emotion in words, voice and face and answers with care; it does **not** feel emotions, and
its readings can be wrong."""

REMOTE_NOTICE = ("- **send cues to a remote LLM**: your words and the emotion reading go to the remote model at "
                 "{url} to write the reply. Off: nothing is sent; replies come from a fallback on this computer.\n")


class DemoServer:
    """The loaded models (shared) and one LiveSession per browser session."""

    def __init__(self, models: SessionModels, *, backend_url: str | None = None, counters_file: Path | None = None):
        self.models = models
        self.backend_url = backend_url
        self.counters_file = counters_file
        self.data_dir = sessions_data_dir()  # where "store" records sessions ($EMPATHIC_DATA_DIR or the default)
        self.sessions: dict[str, LiveSession] = {}
        self._lock = threading.Lock()
        self._last_seen: dict[str, float] = {}
        self._last_written = 0.0
        self._write_lock = threading.Lock()

    def session(self, request: gr.Request | None) -> LiveSession:
        key = getattr(request, "session_hash", None) or "default"
        self._close_idle()
        with self._lock:
            session = self.sessions.get(key)
            if session is None:
                session = LiveSession(self.models, background_turns=True, drop_frames_while_busy=True,
                                      on_store=SessionRecorder(self.data_dir, meta=run_metadata(self.models)))
                self.sessions[key] = session
            self._last_seen[key] = time.monotonic()
            return session

    def _close_idle(self) -> None:
        """API clients never say goodbye the way a closing tab does: sessions idle for long are closed."""
        now = time.monotonic()
        with self._lock:
            idle = [k for k, seen in self._last_seen.items() if now - seen > SESSION_IDLE_CLOSE_S]
            closing = [self.sessions.pop(k) for k in idle if k in self.sessions]
            for key in idle:
                self._last_seen.pop(key, None)
        for session in closing:
            session.close()

    def forget(self, request: gr.Request | None) -> None:
        key = getattr(request, "session_hash", None) or "default"
        with self._lock:
            session = self.sessions.pop(key, None)
            self._last_seen.pop(key, None)
        if session is not None:
            session.close()

    def forget_stored(self, request: gr.Request | None) -> bool:
        """"Forget this session": stop storing and delete what was stored of it; False when nothing was."""
        session = self.session(request)
        session.set_consent("store", False)
        forget = getattr(session.on_store, "forget", None)
        return bool(forget()) if callable(forget) else False

    def reports(self) -> dict[str, dict]:
        """Every session's counters and consent ledger (for the operator and the tests; no words, no readings)."""
        with self._lock:
            sessions = dict(self.sessions)
        return {key: {k: v for k, v in s.report().items() if k in ("counters", "consent", "ledger")}
                for key, s in sessions.items()}

    def write_counters(self, force: bool = False) -> None:
        if self.counters_file is None or (not force and time.monotonic() - self._last_written < 1.0):
            return
        with self._write_lock:
            self._last_written = time.monotonic()
            partial = self.counters_file.with_suffix(".partial")
            partial.write_text(json.dumps(self.reports(), indent=1))
            os.replace(partial, self.counters_file)  # a reader never sees half a file

    def status_line(self, session: LiveSession | None = None) -> str:
        loaded = [f"{part}: {text}" for part, text in self.models.status.items()]
        if self.models.backend_remote:
            allowed = session is not None and session.consent.allows("remote")
            leaves = (f"Your words and emotion readings are sent to the remote LLM at {self.backend_url}."
                      if allowed else "Nothing leaves this machine (the remote LLM is configured but not allowed).")
        else:
            leaves = "Nothing leaves this machine: every model runs here."
        stored = ("Nothing of this session is written to disk."
                  if session is None or not session.consent.allows("store") or session.on_store is None
                  else "This session is being recorded on this computer.")
        return f"**{leaves}** {stored}  \nModels: " + " · ".join(loaded)

    def close(self) -> None:
        with self._lock:
            sessions, self.sessions = list(self.sessions.values()), {}
        for session in sessions:
            session.close()
        self.models.close()


# --- rendering the session ------------------------------------------------------------------------------------

def _bars(view: Any) -> dict[str, float] | None:
    if view is None or getattr(view, "confidence", 0) <= 0:
        return None
    return {label: float(view.probs.get(label, 0.0)) for label in LABELS}


def _view_words(name: str, view: Any) -> str:
    if view is None:
        return f"**{name}:** no reading yet"
    if getattr(view, "confidence", 0) <= 0:
        reason = getattr(view, "reason", "") or "nothing to read"
        return f"**{name}:** no reading ({reason})"
    words = (f"**{name}:** {top_label(view.probs)} {view.probs[top_label(view.probs)]:.2f} · "
             f"valence {view.valence:+.2f} · arousal {view.arousal:+.2f} · confidence {view.confidence:.2f}")
    explanation = getattr(view, "explanation", "")
    return words + (f" ({explanation})" if explanation else "")


def render_details(snapshot: dict) -> str:
    state = snapshot["state"]
    lines = []
    if state is not None:
        lines.append(f"**Fused:** {state.label} {state.probs[state.label]:.2f} · valence {state.valence:+.2f} · "
                     f"arousal {state.arousal:+.2f} · confidence {state.confidence:.2f}")
        lines.append(f"**Why:** {state.why or '-'}")
        lines.append("**Words and face/voice disagree** (incongruent)" if state.incongruent
                     else "Words and face/voice agree (not incongruent)")
    else:
        lines.append("**Fused:** no reading yet")
    views = snapshot["views"]
    lines += [_view_words("Words", views["text"]), _view_words("Voice", views["voice"]),
              _view_words("Face", views["face"])]
    if snapshot.get("because"):  # the last reply's appraised cause (ui/report.because)
        lines.append(f"**Last appraisal,** {snapshot['because']}")
    if snapshot["problems"]:
        lines.append("**Problems:** " + "; ".join(snapshot["problems"][-3:]))
    return "  \n".join(lines)


def render_transcript(snapshot: dict) -> str:
    transcripts = snapshot["transcripts"]
    if not transcripts:
        return "*Heard: nothing yet.*"
    return "**Heard:** " + " / ".join(f"“{t}”" for t in transcripts[-3:])


def render_chat(snapshot: dict) -> list[dict[str, str]]:
    chat = snapshot["chat"]
    if snapshot["partial_reply"] and chat and chat[-1]["role"] == "user":
        chat = chat + [{"role": "assistant", "content": snapshot["partial_reply"] + " …"}]
    elif snapshot["busy"] and (not chat or chat[-1]["role"] == "assistant"):
        chat = chat + [{"role": "assistant", "content": "(listening to what you said …)"}]
    return chat


def render_counters(snapshot: dict) -> str:
    c = snapshot["counters"]
    return (f"frames analysed {c['frames_analyzed']} (received {c['frames_received']}, dropped without consent "
            f"{c['frames_dropped_no_consent']}, dropped while busy {c['frames_dropped_busy']}) · audio chunks "
            f"{c['audio_chunks_received']} (dropped without consent {c['audio_chunks_dropped_no_consent']}) · "
            f"utterances {c['utterances']} · replies {c['replies']}")


def render_timeline(events: list[dict]):
    """Valence and arousal over the session: the fused state as lines, each modality's readings as dots."""
    from matplotlib.figure import Figure  # no pyplot: figures are freed with their last reference, not kept globally

    fig = Figure(figsize=(9.0, 2.4), dpi=90)
    ax = fig.add_subplot(1, 1, 1)
    states = [e for e in events if e["kind"] == "state"]
    if states:
        t = [e["t_s"] for e in states]
        style = "-o" if len(states) < 30 else "-"  # a lone state still shows as a dot
        ax.plot(t, [e["valence"] for e in states], style, ms=2.5, color="tab:blue", label="valence (fused)")
        ax.plot(t, [e["arousal"] for e in states], style, ms=2.5, color="tab:orange", label="arousal (fused)")
        for e in states:
            if e.get("incongruent"):
                ax.axvspan(e["t_s"] - 0.2, e["t_s"] + 0.2, color="red", alpha=0.12, lw=0)
    for kind, marker, color in (("face", ".", "tab:green"), ("text", "s", "tab:purple"), ("voice", "^", "tab:red")):
        points = [e for e in events if e["kind"] == kind and e.get("confidence", 0) > 0]
        if points:
            ax.scatter([e["t_s"] for e in points], [e["valence"] for e in points], s=12, marker=marker, color=color,
                       alpha=0.6, label=f"valence ({kind})")
    for e in events:
        if e["kind"] == "reply":
            ax.axvline(e["t_s"], color="gray", lw=0.6, ls=":")
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlabel("session time (s)")
    ax.axhline(0, color="black", lw=0.4)
    if states or any(e["kind"] in ("face", "text", "voice") for e in events):
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    else:
        ax.text(0.5, 0.5, "the timeline fills in as you talk", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    return fig


# --- the app -----------------------------------------------------------------------------------------------

def build_app(server: DemoServer) -> gr.Blocks:
    models = server.models
    remote_notice = REMOTE_NOTICE.format(url=server.backend_url or "the configured address") \
        if models.backend_remote else ""
    webcam_options = gr.WebcamOptions(mirror=False)  # the model must see the face as it is, not as a mirror

    with gr.Blocks(title="Empathic agent") as app:
        gr.Markdown("## Empathic agent: words, voice and face")
        gr.Markdown(NOTICE.format(remote=remote_notice), elem_id="notice")
        with gr.Row():
            camera = gr.Checkbox(False, label="camera", elem_id="consent-camera")
            microphone = gr.Checkbox(False, label="microphone", elem_id="consent-microphone")
            store = gr.Checkbox(False, label="store this session", elem_id="consent-store")
            remote = gr.Checkbox(False, label="send cues to a remote LLM", elem_id="consent-remote",
                                 visible=models.backend_remote)
        status = gr.Markdown(server.status_line(), elem_id="status")
        forget = gr.Button("Forget this session (delete what was stored)", size="sm", elem_id="forget-session")
        with gr.Row():
            with gr.Column(scale=1):
                webcam = gr.Image(sources=["webcam"], streaming=True, label="camera", webcam_options=webcam_options,
                                  elem_id="webcam", height=300)
                mic = gr.Audio(sources=["microphone"], streaming=True, label="microphone", elem_id="mic")
                heard = gr.Markdown(render_transcript({"transcripts": []}), elem_id="transcript")
            with gr.Column(scale=1):
                chat = gr.Chatbot(label="conversation", elem_id="chat", height=360)
                with gr.Row():
                    text = gr.Textbox(placeholder="Type a message and press Enter", show_label=False, scale=4,
                                      elem_id="text-in")
                    send = gr.Button("Send", scale=1, elem_id="send")
        with gr.Row():
            fused_bars = gr.Label(label="fused", num_top_classes=7, elem_id="view-fused")
            text_bars = gr.Label(label="words", num_top_classes=7, elem_id="view-text")
            voice_bars = gr.Label(label="voice", num_top_classes=7, elem_id="view-voice")
            face_bars = gr.Label(label="face", num_top_classes=7, elem_id="view-face")
        details = gr.Markdown("**Fused:** no reading yet", elem_id="details")
        timeline = gr.Plot(label="timeline", elem_id="timeline")
        counters = gr.Markdown("", elem_id="counters")
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
        timer = gr.Timer(REFRESH_EVERY_S)

        # --- consent -------------------------------------------------------------------------------------
        def consent_handler(name: str):
            def handler(value: bool, request: gr.Request):
                session = server.session(request)
                session.set_consent(name, bool(value))
                server.write_counters(force=True)
                return server.status_line(session)
            return handler

        for box, name in ((camera, "camera"), (microphone, "microphone"), (store, "store"), (remote, "remote")):
            box.change(consent_handler(name), inputs=[box], outputs=[status], api_name=f"consent_{name}",
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
            if time.monotonic() - last_plot.get(key, 0.0) >= PLOT_EVERY_S:
                session.refresh_state()
            snapshot = session.snapshot()
            if snapshot["version"] == seen_version:
                return (gr.skip(),) * 10
            plot = gr.skip()
            if time.monotonic() - last_plot.get(key, 0.0) >= PLOT_EVERY_S:
                last_plot[key] = time.monotonic()
                plot = render_timeline(session.timeline())
            views = snapshot["views"]
            return (snapshot["version"], render_chat(snapshot), _bars(snapshot["state"]), _bars(views["text"]),
                    _bars(views["voice"]), _bars(views["face"]), render_details(snapshot),
                    render_transcript(snapshot), plot, render_counters(snapshot))

        seen = gr.State(-1)
        panel = [seen, chat, fused_bars, text_bars, voice_bars, face_bars, details, heard, timeline, counters]
        timer.tick(refresh, inputs=[seen], outputs=panel, show_progress="hidden", api_visibility="private",
                   concurrency_limit=8)

        # --- typed text, streamed as it is written --------------------------------------------------------
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
                current = render_chat(session.snapshot())
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
            return snapshot["chat"], _bars(face), _view_words("Face", face) if image is not None else ""

        photo_send.click(photo_turn, inputs=[photo, photo_text], outputs=[chat, face_bars, photo_result],
                         api_name="photo_turn")

        def raise_if_too_big(path: str) -> None:
            size = os.path.getsize(path)
            if size > MAX_UPLOAD_MB * 1024 * 1024:
                raise gr.Error(f"{Path(path).name}: {size / 1024 / 1024:.0f} MB, over the {MAX_UPLOAD_MB} MB limit "
                               "for an upload; please send a smaller file")

        def recording_turn(path: str | None, request: gr.Request):
            from perception.audio import load_audio

            session = server.session(request)
            if not path:
                gr.Warning("no recording given")
            elif not session.consent.allows("microphone"):
                gr.Warning("turn on microphone consent to let the agent listen to the recording")
                session.on_utterance(np.zeros(0, dtype=np.float32), 16000)  # counted as dropped
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
                session.on_utterance(audio, 16000)
            snapshot = session.snapshot()
            return snapshot["chat"], render_transcript(snapshot)

        recording_send.click(recording_turn, inputs=[recording], outputs=[chat, heard], api_name="recording_turn")

        # --- for tests and operators: this browser session's own counters and consent ledger --------------
        def session_report(request: gr.Request) -> dict:
            return server.session(request).report()

        gr.api(session_report, api_name="session_report")

        from ui.ablation_tab import build_ablation_tab  # the ablation of text-only against multimodal (issue 7)

        build_ablation_tab()

        from ui.replay_tab import build_replay_tab  # replay a stored session or any file (issue 6)

        build_replay_tab(models, server.data_dir)

        def on_unload(request: gr.Request) -> None:  # the tab closed: its session and what it held go
            server.forget(request)

        app.unload(on_unload)
    return app


def launch(host: str = "127.0.0.1", port: int | None = 7860, share: bool = False, models: SessionModels | None = None,
           backend_url: str | None = None, counters_file: Path | None = None, block: bool = True,
           **model_options: Any) -> tuple[gr.Blocks, DemoServer]:
    """Load the models (unless given), build the app and serve it. `block=False` returns once it is serving."""
    models = models if models is not None else load_models(backend_url=backend_url, **model_options)
    server = DemoServer(models, backend_url=backend_url, counters_file=counters_file)
    server.write_counters(force=True)
    app = build_app(server)
    app.queue(default_concurrency_limit=2)
    app.launch(server_name=host, server_port=port, share=share, prevent_thread_lock=not block, quiet=not block,
               show_error=True, max_file_size=f"{MAX_UPLOAD_MB}mb")
    return app, server
