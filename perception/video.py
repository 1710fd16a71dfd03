"""Frames of a video file (mp4, webm, avi, mov, ...) sampled at a chosen rate, decoded by PyAV (bundled FFmpeg)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from basics.errors import MediaError
from perception.images import MAX_SIDE_PX

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".webm", ".avi", ".mov", ".mkv", ".y4m", ".mpg", ".mpeg")
DEFAULT_FPS = 5.0
log = logging.getLogger(__name__)


def _scaled_size(width: int, height: int) -> tuple[int, int]:
    factor = min(1.0, MAX_SIDE_PX / max(width, height, 1))
    return max(2, round(width * factor) // 2 * 2), max(2, round(height * factor) // 2 * 2)


def sample_frames(path: str | Path, fps: float = DEFAULT_FPS) -> Iterator[tuple[float, np.ndarray]]:
    """(time in seconds, RGB uint8 frame) about `fps` times a second of the first video stream.

    Raises MediaError when the file cannot be opened or has no video stream. A file that breaks part way (a
    truncated recording) yields the frames before the break and logs a warning; one with no frames yields nothing.
    """
    import av

    path = Path(path)
    if fps <= 0:
        raise ValueError(f"fps must be positive, not {fps}")
    if not path.is_file():
        raise MediaError(f"{path}: no such file")
    try:
        container = av.open(str(path), metadata_errors="ignore")  # a tag that is not UTF-8 is not worth failing on
    except av.FFmpegError as err:
        raise MediaError(f"{path}: not a readable video ({err.strerror or type(err).__name__})") from None
    except (OSError, ValueError) as err:
        raise MediaError(f"{path}: cannot open ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
                         ) from None
    with container:
        if not container.streams.video:
            raise MediaError(f"{path}: has no video stream")
        stream = container.streams.video[0]
        if stream.codec_context is None:  # found by fuzzing: a stream whose codec FFmpeg cannot open
            raise MediaError(f"{path}: no decoder for its video stream (corrupt or unsupported codec)")
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = 2
        step_s = 1.0 / fps
        next_t = 0.0
        index = 0
        yielded = 0
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        try:
            for frame in container.decode(stream):
                t = float(frame.time) if frame.time is not None else index / rate
                index += 1
                if t + 1e-6 < next_t:
                    continue
                next_t = max(next_t + step_s, t + step_s / 2)  # never fall behind after a gap in the stream
                width, height = _scaled_size(frame.width, frame.height)
                rgb = frame.to_ndarray(format="rgb24", width=width, height=height)
                yielded += 1
                yield t, rgb
        except (av.FFmpegError, ValueError) as err:
            if yielded == 0:
                raise MediaError(f"{path}: corrupt video ({getattr(err, 'strerror', None) or err})") from None
            log.warning("%s: video breaks after %.1f s (%s); keeping the frames before", path, t, err)
