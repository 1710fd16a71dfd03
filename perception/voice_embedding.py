"""How a thing was said, as the Whisper encoder hears it: its hidden states pooled over the utterance.

The speech-to-text pass already runs Whisper's encoder on every utterance (faster-whisper, CTranslate2). Its states
carry the voice as well as the words (pitch, effort, tempo), so the voice head reads them beside the prosodic
features. `pooled_states` turns one encoder output into a fixed vector: the mean and the standard deviation of the
states over the frames that hold the utterance (Whisper pads every input to 30 s; the padding's states are left out).

`EncoderTap` keeps the last encoder output of a faster-whisper model, so the voice reuses the ASR pass instead of
encoding the audio twice (perception.asr.FasterWhisperEngine.voice_states); `encode_speech` does what that pass does
(voice activity, utterances joined, one encoder pass) when there was none (offline tools, the ablation, training).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from basics.audio import SAMPLE_RATE_HZ

WINDOW_FRAMES = 3000  # Whisper's 30 s input, in 10 ms mel frames
ENCODER_STRIDE = 2  # the encoder's convolutions halve the frame rate: 1500 states for 3000 mel frames
MIN_STATES = 4


@dataclass(frozen=True)
class EncoderStates:
    """One encoder pass: the states of its first input (time, width) and how many mel frames held real audio."""

    states: np.ndarray
    mel_frames: int


def pooled_states(encoded: EncoderStates) -> np.ndarray:
    """[mean, sd] of the states over the frames of real audio: (2 * width,) float32."""
    used = max(MIN_STATES, min(len(encoded.states), -(-encoded.mel_frames // ENCODER_STRIDE)))
    states = np.asarray(encoded.states[:used], dtype=np.float32)
    return np.concatenate([states.mean(axis=0), states.std(axis=0)]).astype(np.float32)


def _as_numpy(output: Any) -> np.ndarray:
    return np.asarray(output, dtype=np.float32)


def encode_speech(whisper_model: Any, audio: np.ndarray, sample_rate_hz: int = SAMPLE_RATE_HZ) -> np.ndarray | None:
    """What the speech-to-text pass encodes, pooled: voice activity finds the utterances, they are joined
    (perception.asr.speech_only) and encoded once. None when there is no speech."""
    from perception.asr import speech_only
    from perception.audio import audio_from_array
    from perception.vad import speech_segments

    samples = audio_from_array(audio, sample_rate_hz)
    segments = speech_segments(samples)
    if not segments:
        return None
    speech, _ = speech_only(samples, segments)
    return encode_pooled(whisper_model, speech)


def encode_pooled(whisper_model: Any, audio: np.ndarray) -> np.ndarray:
    """Encode one utterance (16 kHz mono float32, at most 30 s used) with a faster-whisper WhisperModel and pool it."""
    audio = np.asarray(audio, dtype=np.float32)[: 30 * SAMPLE_RATE_HZ]
    features = whisper_model.feature_extractor(audio)
    mel_frames = min(features.shape[-1], WINDOW_FRAMES)
    padded = np.zeros((features.shape[0], WINDOW_FRAMES), dtype=np.float32)
    padded[:, :mel_frames] = features[:, :mel_frames]
    output = _as_numpy(whisper_model.encode(padded))
    return pooled_states(EncoderStates(output[0], mel_frames))


class EncoderTap:
    """Wraps a faster-whisper WhisperModel's `encode` so the last output of the ASR pass can be read back.

    faster-whisper encodes 30 s windows; for one utterance (under 30 s) the first window is the whole of it, which
    is the window kept here (later windows of a long input are ignored: the voice reads utterances)."""

    def __init__(self, whisper_model: Any) -> None:
        self._encode = whisper_model.encode
        self.last: np.ndarray | None = None
        whisper_model.encode = self._tapped

    def _tapped(self, features: np.ndarray) -> Any:
        output = self._encode(features)
        if self.last is None:
            self.last = _as_numpy(output)[0]
        return output

    def reset(self) -> None:
        self.last = None

    def pooled(self, audio_duration_s: float) -> np.ndarray | None:
        """The last pass's states pooled over `audio_duration_s` of audio, or None when nothing was encoded."""
        if self.last is None:
            return None
        return pooled_states(EncoderStates(self.last, int(round(audio_duration_s * 100))))
