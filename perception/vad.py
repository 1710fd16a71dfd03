"""Voice activity: where in the audio someone speaks, as utterances (start, end) in seconds.

The Silero VAD ONNX model that ships inside faster-whisper (checked by sha256 through basics.assets), run by
faster-whisper's own wrapper. A pause of `min_silence_s` or more ends an utterance, and no utterance runs past
`max_utterance_s`, so long audio splits into pieces the recogniser and the prosody features can take one at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from basics.audio import SAMPLE_RATE_HZ
from basics.errors import MediaError

MIN_SILENCE_S = 0.5  # a sentence break in ordinary speech; shorter pauses stay inside one utterance
SPEECH_PAD_S = 0.2  # kept either side so word onsets and endings are not clipped
MIN_SPEECH_S = 0.25  # shorter bursts are clicks and breaths, not words
MAX_UTTERANCE_S = 30.0  # Whisper's window; longer stretches are cut at their longest inner pause
SILENCE_PEAK = 10 ** (-70 / 20)  # below -70 dBFS at its loudest, audio holds no speech: skip the model (long silences)


@dataclass(frozen=True)
class SpeechSegment:
    """One utterance: speech from `t_start_s` to `t_end_s` (seconds from the start of the audio)."""

    t_start_s: float
    t_end_s: float

    @property
    def duration_s(self) -> float:
        return self.t_end_s - self.t_start_s


def speech_segments(audio: np.ndarray, sample_rate_hz: int = SAMPLE_RATE_HZ, *, threshold: float = 0.5,
                    min_silence_s: float = MIN_SILENCE_S, speech_pad_s: float = SPEECH_PAD_S,
                    min_speech_s: float = MIN_SPEECH_S, max_utterance_s: float = MAX_UTTERANCE_S,
                    offset_s: float = 0.0) -> list[SpeechSegment]:
    """The utterances in `audio` (float32 mono at 16 kHz, the only rate Silero takes here), in time order.
    `offset_s` is added to every time, for a window cut from a longer file. No speech gives an empty list."""
    if sample_rate_hz != SAMPLE_RATE_HZ:
        raise MediaError(f"voice activity needs {SAMPLE_RATE_HZ} Hz audio, got {sample_rate_hz} Hz; "
                         f"load it with perception.audio at the default rate")
    samples = np.asarray(audio, dtype=np.float32).reshape(-1)
    if len(samples) < 512:  # below one Silero frame (32 ms) there is nothing to judge
        return []
    if not np.all(np.isfinite(samples)):
        raise MediaError("voice activity: audio holds NaN or infinite samples")
    if float(np.max(np.abs(samples))) < SILENCE_PEAK:
        return []
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    _verify_model()
    options = VadOptions(threshold=threshold, min_speech_duration_ms=int(min_speech_s * 1000),
                         max_speech_duration_s=max_utterance_s, min_silence_duration_ms=int(min_silence_s * 1000),
                         speech_pad_ms=int(speech_pad_s * 1000))
    stamps = get_speech_timestamps(samples, options, sampling_rate=sample_rate_hz)
    return [SpeechSegment(offset_s + s["start"] / sample_rate_hz, offset_s + s["end"] / sample_rate_hz)
            for s in stamps]


_MODEL_CHECKED = False


def _verify_model() -> None:
    """faster-whisper loads its own copy of the file; check once that it is the one we pinned."""
    global _MODEL_CHECKED
    if not _MODEL_CHECKED:
        from basics.assets import model_path

        model_path("silero-vad")
        _MODEL_CHECKED = True
