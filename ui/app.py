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

from ui import device_js
from ui.live_tab import MAX_RECORDING_S, MAX_UPLOAD_MB, MIC_STREAM_EVERY_S  # noqa: F401  (re-exported)
from ui.recorder import SessionRecorder, run_metadata
from ui.recorder import data_dir as sessions_data_dir
from ui.session import LiveSession, SessionModels, load_models

SESSION_IDLE_CLOSE_S = 3600.0


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
        if self.models.backend_remote:
            allowed = session is not None and session.consent.allows("remote")
            leaves = (f"Your words and emotion readings are sent to the remote LLM at {self.backend_url}."
                      if allowed else "Nothing leaves this machine (the remote LLM is configured but not allowed).")
        else:
            leaves = "Nothing leaves this machine: every model runs here."
        stored = ("Nothing of this session is written to disk."
                  if session is None or not session.consent.allows("store") or session.on_store is None
                  else "This session is being recorded on this computer.")
        return f"**{leaves}** {stored}"

    def models_line(self) -> str:
        """What was loaded, or why not (for developers; kept out of the person's way)."""
        return "Models: " + " · ".join(f"{part}: {text}" for part, text in self.models.status.items())

    def close(self) -> None:
        with self._lock:
            sessions, self.sessions = list(self.sessions.values()), {}
        for session in sessions:
            session.close()
        self.models.close()


# --- the app: one top-level tab per use, Live first ---------------------------------------------------------

def build_app(server: DemoServer) -> gr.Blocks:
    """Each top-level tab is built by its own module's build function; a new tab is one more line here."""
    from ui.ablation_tab import build_ablation_tab  # the ablation of text-only against multimodal (issue 7)
    from ui.evaluate_tab import build_evaluate_tab  # blind pairwise rating of two reply configurations (issue 16)
    from ui.live_tab import build_live_tab
    from ui.replay_tab import build_replay_tab  # replay a stored session or any file (issue 6)

    with gr.Blocks(title="Empathic agent") as app:
        gr.Markdown("## Empathic agent: words, voice and face")
        with gr.Tabs(selected="live", elem_id="tabs"):
            build_live_tab(server)
            build_replay_tab(server.models, server.data_dir)
            build_ablation_tab()
            build_evaluate_tab()

        # --- for tests and operators: this browser session's own counters and consent ledger --------------
        def session_report(request: gr.Request) -> dict:
            return server.session(request).report()

        gr.api(session_report, api_name="session_report")

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
               show_error=True, max_file_size=f"{MAX_UPLOAD_MB}mb", head=device_js.HEAD, css=device_js.CSS)
    return app, server
