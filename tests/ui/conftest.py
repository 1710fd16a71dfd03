"""Shared for the ui tests: the browser media (made once per run with ffmpeg/espeak-ng) and the loaded models."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "samples"))

import make_browser_samples  # noqa: E402


@pytest.fixture(scope="session")
def browser_media(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("browser_media")
    return {
        "y4m": make_browser_samples.make_face_y4m(folder / "browser_face.y4m"),
        "wav": make_browser_samples.make_speech_wav(folder / "browser_speech.wav"),
        "png": make_browser_samples.make_face_png(folder / "browser_face.png"),
        "text": make_browser_samples.SPEECH_TEXT,
    }


@pytest.fixture(scope="session")
def models():
    """Every real model, loaded once for all ui tests (about 10 s on 2 cores)."""
    from ui.session import load_models

    loaded = load_models()
    missing = {part: text for part, text in loaded.status.items() if text.startswith("unavailable")}
    assert not missing, f"models failed to load: {missing}"
    yield loaded
    loaded.close()


@pytest.fixture(scope="module")
def served(models):
    """The app on a free 127.0.0.1 port with the shared models: (url, server); stopped after the module."""
    from app_helpers import free_port

    from ui.app import launch

    port = free_port()
    app, server = launch(host="127.0.0.1", port=port, models=models, block=False)
    yield f"http://127.0.0.1:{port}/", server
    app.close()
