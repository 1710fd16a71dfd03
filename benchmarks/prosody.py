"""Prosody speed: real-time factor of `extract_prosody` (measurement + model) on >= 10 s of espeak-ng speech.

    python -m benchmarks.prosody [--quick]
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BENCH_TEXT = (
    "I went to the market yesterday and bought some apples. Then I walked home slowly in the rain, "
    "thinking about the week ahead. My sister called to say she is coming over on Sunday, "
    "and I am really looking forward to seeing her again after all this time."
)
MIN_SPEECH_S = 10.0


def bench_speech() -> tuple[np.ndarray, int]:
    """At least MIN_SPEECH_S of 16 kHz speech synthesised by espeak-ng (a real voice, not a tone)."""
    import soundfile

    from basics.audio import SAMPLE_RATE_HZ
    from basics.errors import MediaError
    from perception.prosody import as_mono_16k

    if shutil.which("espeak-ng") is None:
        raise MediaError("bench_prosody: espeak-ng is needed to make the benchmark speech (apt-get install espeak-ng)")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.wav"
        subprocess.run(["espeak-ng", "-s", "150", "-w", str(path), BENCH_TEXT], check=True, capture_output=True)
        audio, sample_rate_hz = soundfile.read(path, dtype="float32")
    speech = as_mono_16k(audio, sample_rate_hz)
    while len(speech) < MIN_SPEECH_S * SAMPLE_RATE_HZ:
        speech = np.concatenate([speech, speech])
    return speech, SAMPLE_RATE_HZ


def run(quick: bool = False) -> dict[str, float]:
    from perception.prosody import extract_prosody

    speech, sample_rate_hz = bench_speech()
    duration_s = len(speech) / sample_rate_hz
    extract_prosody(speech, sample_rate_hz)  # warm-up: imports, model load, librosa's first-call caches
    wall_s = []
    for _ in range(3 if quick else 7):
        start = time.perf_counter()
        extract_prosody(speech, sample_rate_hz)
        wall_s.append(time.perf_counter() - start)
    median_s = statistics.median(wall_s)
    return {
        "prosody_audio_s": round(duration_s, 3),
        "prosody_wall_s_median": round(median_s, 4),
        "prosody_rtf_median": round(median_s / duration_s, 4),
    }


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv[1:]), indent=2))
