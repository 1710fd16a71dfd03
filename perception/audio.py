"""Audio in: any file PyAV can open (wav, mp3, flac, ogg, webm, mp4's audio track), bytes, or a numpy array,
out as float32 mono at one sample rate (16 kHz: what Whisper, Silero VAD and the prosody features expect).

Bad input gives a one-line MediaError naming the source, never a traceback:
- missing, empty, non-audio, or a video without an audio track;
- NaN or infinite samples: refused, not cleaned. A corrupt float file usually has whole runs of them, and any value
  we put in their place (zeros) would read as pauses to the prosody features; better to say the file is broken;
- longer than `max_duration_s` (default 30 min) in `load_audio`: a whole 2-hour file as float32 is ~460 MB, so long
  files are read window by window with `iter_audio_windows`, which holds one window at a time.
Decoding goes through PyAV directly (not ffmpeg the program) so it needs no Debian package.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from basics.audio import SAMPLE_RATE_HZ
from basics.errors import MediaError

DEFAULT_MAX_DURATION_S = 30 * 60.0
DEFAULT_WINDOW_S = 30.0


@dataclass(frozen=True)
class AudioWindow:
    """One stretch of a longer file: `samples` (float32 mono) start `t_start_s` into the file."""

    t_start_s: float
    samples: np.ndarray
    sample_rate_hz: int

    @property
    def t_end_s(self) -> float:
        return self.t_start_s + len(self.samples) / self.sample_rate_hz


def load_audio(path: str | os.PathLike, sample_rate_hz: int = SAMPLE_RATE_HZ,
               max_duration_s: float | None = DEFAULT_MAX_DURATION_S) -> np.ndarray:
    """The whole file as float32 mono at `sample_rate_hz`. Raises MediaError; `max_duration_s=None` lifts the limit."""
    label = str(path)
    _check_file(path)
    chunks = []
    total = 0
    limit = None if max_duration_s is None else int(max_duration_s * sample_rate_hz)
    with _open(path, label) as container:
        stream = _audio_stream(container, label)
        declared_s = _declared_duration_s(container, stream)
        if max_duration_s is not None and declared_s is not None and declared_s > max_duration_s:
            raise MediaError(_too_long(label, declared_s, max_duration_s))
        for block in _decode_blocks(container, stream, sample_rate_hz, label):
            chunks.append(block)
            total += len(block)
            if limit is not None and total > limit:  # the header may lie or be missing: stop reading, don't hoard
                raise MediaError(_too_long(label, None, max_duration_s))
    audio = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    return _check_finite(audio, label)


def load_audio_bytes(data: bytes, sample_rate_hz: int = SAMPLE_RATE_HZ, label: str = "<audio bytes>",
                     max_duration_s: float | None = DEFAULT_MAX_DURATION_S) -> np.ndarray:
    """Like load_audio for an encoded file held in memory (an upload, a browser recording)."""
    if not data:
        raise MediaError(f"{label}: empty (0 bytes)")
    limit = None if max_duration_s is None else int(max_duration_s * sample_rate_hz)
    chunks = []
    total = 0
    with _open(io.BytesIO(data), label) as container:
        stream = _audio_stream(container, label)
        for block in _decode_blocks(container, stream, sample_rate_hz, label):
            chunks.append(block)
            total += len(block)
            if limit is not None and total > limit:
                raise MediaError(_too_long(label, None, max_duration_s))
    audio = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    return _check_finite(audio, label)


def iter_audio_windows(path: str | os.PathLike, window_s: float = DEFAULT_WINDOW_S,
                       sample_rate_hz: int = SAMPLE_RATE_HZ) -> Iterator[AudioWindow]:
    """The file in consecutive windows of `window_s` (the last one shorter), decoded lazily: memory stays at about
    one window however long the file is, and stopping early stops decoding."""
    if window_s <= 0:
        raise ValueError(f"window_s must be positive, got {window_s}")
    label = str(path)
    _check_file(path)
    window_len = max(1, int(round(window_s * sample_rate_hz)))
    pending: list[np.ndarray] = []
    pending_len = 0
    emitted = 0
    with _open(path, label) as container:
        stream = _audio_stream(container, label)
        for block in _decode_blocks(container, stream, sample_rate_hz, label):
            pending.append(block)
            pending_len += len(block)
            while pending_len >= window_len:
                joined = np.concatenate(pending)
                window, rest = joined[:window_len], joined[window_len:]
                pending, pending_len = [rest], len(rest)
                yield AudioWindow(emitted / sample_rate_hz, _check_finite(window, label), sample_rate_hz)
                emitted += window_len
        if pending_len:
            yield AudioWindow(emitted / sample_rate_hz, _check_finite(np.concatenate(pending), label),
                              sample_rate_hz)


def audio_duration_s(path: str | os.PathLike) -> float | None:
    """The duration the container declares, without decoding; None when it does not say."""
    _check_file(path)
    with _open(path, str(path)) as container:
        return _declared_duration_s(container, _audio_stream(container, str(path)))


def audio_from_array(samples: np.ndarray, sample_rate_hz: int, target_rate_hz: int = SAMPLE_RATE_HZ,
                     label: str = "<audio array>") -> np.ndarray:
    """Samples already in memory (a microphone chunk: int16 or float, mono or (n, channels)) as float32 mono at
    `target_rate_hz`. Integer samples are scaled to [-1, 1]."""
    array = np.asarray(samples)
    if np.issubdtype(array.dtype, np.integer):
        array = array.astype(np.float64) / (float(np.iinfo(array.dtype).max) + 1.0)
    elif not np.issubdtype(array.dtype, np.floating):
        raise MediaError(f"{label}: audio samples must be numbers, got dtype {array.dtype}")
    if array.ndim == 2:  # (samples, channels) as gradio and soundfile give it; channels-first when clearly so
        array = (array.T if array.shape[0] < array.shape[1] and array.shape[0] <= 8 else array).mean(axis=1)
    elif array.ndim != 1:
        raise MediaError(f"{label}: expected 1-D or (samples, channels) audio, got shape {array.shape}")
    array = _check_finite(array.astype(np.float32, copy=False), label)
    if sample_rate_hz <= 0:
        raise MediaError(f"{label}: sample rate must be positive, got {sample_rate_hz}")
    if sample_rate_hz != target_rate_hz and len(array):
        import soxr  # librosa's resampler; imported here so plain file loading does not need it

        array = soxr.resample(array, sample_rate_hz, target_rate_hz).astype(np.float32, copy=False)
    return np.ascontiguousarray(array, dtype=np.float32)


# --- internals ---------------------------------------------------------------------------------------------------

def _check_file(path: str | os.PathLike) -> None:
    file = Path(path)
    if not file.exists():
        raise MediaError(f"{file}: no such file")
    if not file.is_file():
        raise MediaError(f"{file}: not a file")
    if file.stat().st_size == 0:
        raise MediaError(f"{file}: empty file (0 bytes)")


def _open(source: str | os.PathLike | BinaryIO, label: str):
    import av

    try:
        return av.open(source if not isinstance(source, os.PathLike) else str(source), mode="r",
                       metadata_errors="ignore")
    except av.error.FFmpegError as err:
        raise MediaError(f"{label}: not a readable audio or video file ({_reason(err)})") from None
    except (OSError, ValueError) as err:
        raise MediaError(f"{label}: cannot open ({_reason(err)})") from None


def _audio_stream(container, label: str):
    if not container.streams.audio:
        kinds = sorted({s.type for s in container.streams}) or ["no streams"]
        raise MediaError(f"{label}: has no audio track (found: {', '.join(kinds)})")
    return container.streams.audio[0]


def _declared_duration_s(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        import av

        return container.duration / av.time_base
    return None


def _decode_blocks(container, stream, sample_rate_hz: int, label: str) -> Iterator[np.ndarray]:
    """Decoded float32 mono blocks at `sample_rate_hz`. Float output (not int16 as faster_whisper.decode_audio does)
    so that NaN survives to be detected instead of turning into arbitrary integers."""
    import av

    resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate_hz)
    context = stream.codec_context
    if context is None:  # a format tag no decoder knows (an odd wav): FFmpeg opens the file but cannot decode it
        raise MediaError(f"{label}: its audio codec is not supported (no decoder for it)")
    # Already 16-bit or float mono at the wanted rate (the usual wav): numpy converts it at half the resampler's cost
    direct_scale = {"s16": 1 / 32768.0, "flt": 1.0}.get(getattr(context.format, "name", ""))
    if not (direct_scale and context.sample_rate == sample_rate_hz and context.layout.nb_channels == 1):
        direct_scale = None
    try:
        if direct_scale:
            for frame in container.decode(stream):
                yield frame.to_ndarray().reshape(-1).astype(np.float32) * np.float32(direct_scale)
            return
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                yield out.to_ndarray().reshape(-1)
        for out in resampler.resample(None):  # flush what the resampler holds back
            yield out.to_ndarray().reshape(-1)
    except av.error.FFmpegError as err:
        raise MediaError(f"{label}: audio is corrupt or cannot be decoded ({_reason(err)})") from None
    except ValueError as err:  # PyAV raises this for frames it cannot convert (odd layouts or formats)
        raise MediaError(f"{label}: cannot convert the audio ({_reason(err)})") from None


def _check_finite(audio: np.ndarray, label: str) -> np.ndarray:
    bad = int(np.count_nonzero(~np.isfinite(audio)))
    if bad:
        raise MediaError(f"{label}: {bad} of {len(audio)} samples are NaN or infinite (corrupt audio)")
    return audio


def _too_long(label: str, declared_s: float | None, max_duration_s: float | None) -> str:
    length = f"{declared_s:.0f} s long" if declared_s is not None else "longer than the limit"
    return (f"{label}: {length}, over the {max_duration_s or 0:.0f} s limit for loading whole; "
            f"read it in windows with iter_audio_windows")


def _reason(err: Exception) -> str:
    # FFmpegError's str() repeats the errno and the file name; its strerror is the part worth a person's time
    text = getattr(err, "strerror", None) or str(err).strip()
    text = text.splitlines()[0] if text else type(err).__name__
    return text[:160]
