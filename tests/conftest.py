"""Fixtures shared across the test packages; keep this small and generic."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pytest

# Models come from PyPI packages only: no test may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """The committed speech clips (samples/make_samples.py) and their transcripts.json."""
    return REPO_DIR / "samples"


@pytest.fixture(scope="session")
def write_sparse_wav():
    """A maker of very long 16-bit mono wav files that cost no disk and no time: a header, then a sparse hole of
    zeros (silence), with `speech` written at each of `speech_at_s`. For the "2-hour file" bad-input tests."""

    def write(path: Path, duration_s: float, speech: np.ndarray | None = None, speech_at_s: tuple[float, ...] = (),
              sample_rate_hz: int = 16000) -> Path:
        frames = int(duration_s * sample_rate_hz)
        header = (b"RIFF" + struct.pack("<I", 36 + 2 * frames) + b"WAVEfmt "
                  + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate_hz, 2 * sample_rate_hz, 2, 16)
                  + b"data" + struct.pack("<I", 2 * frames))
        with open(path, "wb") as handle:
            handle.write(header)
            handle.truncate(len(header) + 2 * frames)
            for at_s in speech_at_s:
                handle.seek(len(header) + 2 * int(at_s * sample_rate_hz))
                handle.write((np.clip(speech, -1, 1) * 32767).astype("<i2").tobytes())
        return path

    return write


# In CI a skipped test is a failed test: the data and the programs are part of what CI must provide, and a suite
# that skips itself on a broken import or a missing folder can pass while the code is broken. Locally (no CI
# variable) a missing ../shared/data still skips, with its reason.
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CI") and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which must provide everything a test needs: {reason}"
