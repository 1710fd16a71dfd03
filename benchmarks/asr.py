"""Speech-to-text speed on the long committed sample (samples/speech_long.wav, ~24 s, five sentences with pauses).

The model is loaded (and warmed with one pass) before timing; its load time is reported on its own. The real-time
factor is the median over several runs of (seconds to transcribe) / (seconds of audio), VAD included, so it is what
a caller of `AsrEngine.transcribe` pays. Target: <= 0.15 on 2 CPU cores.

Run:  .venv/bin/python -m benchmarks.asr [--quick]
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "speech_long.wav"


def run(quick: bool = False) -> dict[str, float]:
    from basics.audio import SAMPLE_RATE_HZ
    from perception.asr import FasterWhisperEngine, full_text, word_error_rate
    from perception.audio import load_audio
    from perception.vad import speech_segments

    audio = load_audio(SAMPLE)
    audio_s = len(audio) / SAMPLE_RATE_HZ  # load_audio's default rate
    reference = json.loads((SAMPLE.parent / "transcripts.json").read_text())[SAMPLE.name]["text"]

    started = time.perf_counter()
    engine = FasterWhisperEngine()  # not make_asr: its cache would hide the load time on a second run
    load_s = time.perf_counter() - started
    transcripts = engine.transcribe(audio)  # warm-up: first-call allocations are not what a session pays

    runs = 3 if quick else 7
    asr_times, vad_times = [], []
    for _ in range(runs):
        started = time.perf_counter()
        transcripts = engine.transcribe(audio)
        asr_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        speech_segments(audio)
        vad_times.append(time.perf_counter() - started)
    return {
        "asr_rtf_median": statistics.median(asr_times) / audio_s,
        "asr_rtf_min": min(asr_times) / audio_s,
        "asr_audio_s": audio_s,
        "asr_runs": float(runs),
        "asr_load_s": load_s,
        "asr_vad_rtf_median": statistics.median(vad_times) / audio_s,
        "asr_wer": word_error_rate(reference, full_text(transcripts)),
        "asr_utterances": float(len(transcripts)),
    }


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv[1:]), indent=2))
