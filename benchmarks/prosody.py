"""Voice speed: real-time factor of `extract_prosody` (measurement + model) on >= 10 s of espeak-ng speech, alone and
with the Whisper encoder's states. The states are reused from the speech-to-text pass (what runs live), so the voice
adds only the pooling and the head on top of it; encoding them in a pass of their own is timed for comparison.

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
    result = {
        "prosody_audio_s": round(duration_s, 3),
        "prosody_wall_s_median": round(median_s, 4),
        "prosody_rtf_median": round(median_s / duration_s, 4),
    }
    return {**result, **voice_on_top_of_asr(speech, sample_rate_hz, duration_s, 1 if quick else 3)}


def voice_on_top_of_asr(speech: np.ndarray, sample_rate_hz: int, duration_s: float, repeats: int) -> dict[str, float]:
    """The voice with the encoder head, timed on top of speech-to-text: what reading the ASR pass's states and
    extracting the voice cue costs after `transcribe` (the live path), against a separate encoder pass."""
    from perception.asr import FasterWhisperEngine
    from perception.prosody import extract_prosody

    engine = FasterWhisperEngine()
    asr_s, reuse_s, separate_s = [], [], []
    for _ in range(repeats):
        start = time.perf_counter()
        engine.transcribe(speech, sample_rate_hz)
        asr_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        extract_prosody(speech, sample_rate_hz, encoder_states=engine.voice_states())
        reuse_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        engine.encode_voice(speech, sample_rate_hz)
        separate_s.append(time.perf_counter() - start)
    return {
        "asr_rtf_median": round(statistics.median(asr_s) / duration_s, 4),
        "voice_with_encoder_states_rtf_on_top_of_asr": round(statistics.median(reuse_s) / duration_s, 4),
        "voice_separate_encoder_pass_rtf": round(statistics.median(separate_s) / duration_s, 4),
    }


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv[1:]), indent=2))
