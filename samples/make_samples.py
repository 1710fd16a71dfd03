"""Make the speech samples: short espeak-ng clips acted in four emotions, plus a longer clip with pauses for the ASR
benchmark and the VAD tests. Writes 16 kHz mono 16-bit wav files and transcripts.json (the known texts) here.

espeak-ng can only act an emotion through pitch (-p), pitch range (via the voice variant), speed (-s) and
amplitude (-a), so the words carry the emotion too. Settings were chosen so that Whisper tiny.en transcribes every
clip exactly (tests/perception/test_asr.py checks word error rate <= 0.1).

Run:  .venv/bin/python samples/make_samples.py   (needs the espeak-ng and sox programs; deterministic output)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile

from basics.audio import SAMPLE_RATE_HZ  # the rate the models read

SAMPLES_DIR = Path(__file__).resolve().parent
PAUSE_S = 1.2  # between the sentences of the long clip: long enough for VAD to cut utterances there


@dataclass(frozen=True)
class Voice:
    name: str  # espeak-ng voice (+variant)
    pitch: int  # 0-99, espeak's default 50
    speed_wpm: int  # words per minute, espeak's default 175
    amplitude: int  # 0-200, espeak's default 100


@dataclass(frozen=True)
class Sample:
    file: str
    emotion: str
    sentences: tuple[str, ...]
    voice: Voice

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


SAMPLES: tuple[Sample, ...] = (
    Sample("speech_joy.wav", "joy",
           ("I got the job! I am so happy! This is wonderful news!",),
           Voice("en-us", pitch=70, speed_wpm=175, amplitude=160)),
    Sample("speech_sadness.wav", "sadness",
           ("I miss her so much. Since she left, I feel lonely and sad every day.",),
           Voice("en-us", pitch=35, speed_wpm=140, amplitude=80)),
    Sample("speech_anger.wav", "anger",
           ("This is not fair! You lied to me again, and I am really angry about it!",),
           Voice("en-us", pitch=45, speed_wpm=190, amplitude=180)),
    Sample("speech_neutral.wav", "neutral",
           ("The meeting is on Tuesday morning. Please send me the quarterly report.",),
           Voice("en-us", pitch=50, speed_wpm=165, amplitude=100)),
    Sample("speech_long.wav", "neutral",
           ("Good morning, and thank you for coming in today.",
            "I would like to talk about how the last few weeks have been for me.",
            "Work has been busy, but my team has been very kind and helpful.",
            "My family is doing well, and I have started walking every evening.",
            "I think I am finally sleeping better than before."),
           Voice("en-us", pitch=50, speed_wpm=160, amplitude=100)),
)


def speak(text: str, voice: Voice, workdir: Path) -> np.ndarray:
    """One utterance from espeak-ng, resampled by sox to 16 kHz mono (no dither, so reruns give the same bytes)."""
    raw, resampled = workdir / "raw.wav", workdir / "resampled.wav"
    subprocess.run(["espeak-ng", "-v", voice.name, "-p", str(voice.pitch), "-s", str(voice.speed_wpm),
                    "-a", str(voice.amplitude), "-w", str(raw), text], check=True)
    # gain -h: headroom for the resampler, so loud (angry) speech does not clip
    subprocess.run(["sox", "-D", str(raw), "-r", str(SAMPLE_RATE_HZ), "-c", "1", "-b", "16", str(resampled),
                    "gain", "-h"], check=True)
    samples, rate = soundfile.read(resampled, dtype="float32")
    assert rate == SAMPLE_RATE_HZ
    return samples


def make_sample(sample: Sample, workdir: Path) -> np.ndarray:
    pause = np.zeros(int(PAUSE_S * SAMPLE_RATE_HZ), dtype=np.float32)
    lead = np.zeros(int(0.3 * SAMPLE_RATE_HZ), dtype=np.float32)  # a breath of silence before speech, as in life
    parts = [lead]
    for i, sentence in enumerate(sample.sentences):
        if i:
            parts.append(pause)
        parts.append(speak(sentence, sample.voice, workdir))
    parts.append(lead)
    return np.concatenate(parts)


def main() -> int:
    for program in ("espeak-ng", "sox"):
        if shutil.which(program) is None:
            print(f"make_samples: the {program} program is missing (apt-get install espeak-ng sox)", file=sys.stderr)
            return 1
    transcripts = {}
    with tempfile.TemporaryDirectory() as tmp:
        for sample in SAMPLES:
            audio = make_sample(sample, Path(tmp))
            soundfile.write(SAMPLES_DIR / sample.file, audio, SAMPLE_RATE_HZ, subtype="PCM_16")
            transcripts[sample.file] = {
                "text": sample.text,
                "sentences": list(sample.sentences),
                "emotion": sample.emotion,
                "duration_s": round(len(audio) / SAMPLE_RATE_HZ, 3),
                "espeak": asdict(sample.voice),
            }
            print(f"{sample.file:22s} {len(audio) / SAMPLE_RATE_HZ:5.2f} s  {sample.emotion}")
    (SAMPLES_DIR / "transcripts.json").write_text(json.dumps(transcripts, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
