"""Video files in: sampling rate, containers, and bad files (one MediaError line or an empty timeline, no hang)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from basics.errors import MediaError
from perception.video import sample_frames

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
SAMPLE = SAMPLES / "face_video.mp4"  # 640x480, 10 fps, 4 s


def _write(path: Path, frames: list[np.ndarray], codec: str, fps: int = 10) -> Path:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        stream.time_base = Fraction(1, fps)
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _frames(count: int) -> list[np.ndarray]:
    return [np.full((120, 160, 3), 10 * i % 255, dtype=np.uint8) for i in range(count)]


@pytest.mark.parametrize("fps, expected", [(5.0, 20), (2.0, 8), (10.0, 40), (30.0, 40)])
def test_sampling_rate(fps, expected):
    frames = list(sample_frames(SAMPLE, fps))
    assert len(frames) == expected
    times = [t for t, _ in frames]
    assert times[0] == pytest.approx(0.0) and np.all(np.diff(times) > 0)
    assert frames[0][1].shape == (480, 640, 3) and frames[0][1].dtype == np.uint8


@pytest.mark.parametrize("suffix, codec", [(".webm", "libvpx-vp9"), (".avi", "mpeg4"), (".mov", "libx264"),
                                           (".mkv", "libx264")])
def test_containers(tmp_path, suffix, codec):
    path = _write(tmp_path / f"clip{suffix}", _frames(20), codec)
    assert len(list(sample_frames(path, 5.0))) == 10


def test_big_frames_are_downscaled(tmp_path):
    path = _write(tmp_path / "big.mp4", [np.zeros((1440, 2560, 3), np.uint8)] * 2, "libx264")
    _, rgb = next(sample_frames(path, 5.0))
    assert max(rgb.shape[:2]) <= 1280


def test_truncated_mp4_is_one_line_error(tmp_path):
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(SAMPLE.read_bytes()[: SAMPLE.stat().st_size // 2])  # the index (moov) is at the end: lost
    with pytest.raises(MediaError, match="cut.mp4") as err:
        list(sample_frames(cut))
    assert "\n" not in str(err.value)


def test_truncated_streamable_video_keeps_the_frames_before_the_break(tmp_path):
    whole = _write(tmp_path / "whole.mkv", [np.random.default_rng(i).integers(0, 255, (120, 160, 3), np.uint8)
                                            for i in range(40)], "libx264")
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    kept = list(sample_frames(cut, 10.0))
    assert 5 <= len(kept) < 40


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_video_with_no_frames_is_one_line_error(tmp_path, suffix):
    import av

    path = tmp_path / f"empty{suffix}"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        container.start_encoding()
        container.mux(stream.encode(None))  # headers written, not one frame
    with pytest.raises(MediaError, match=f"empty{suffix}: (not a readable video|has no video stream)") as err:
        list(sample_frames(path))
    assert "\n" not in str(err.value)


def test_audio_only_file_has_no_video_stream(tmp_path):
    import soundfile

    path = tmp_path / "tone.wav"
    soundfile.write(path, np.sin(np.linspace(0, 2000, 16000)).astype(np.float32), 16000)
    with pytest.raises(MediaError, match="tone.wav: has no video stream"):
        list(sample_frames(path))


@pytest.mark.parametrize("content", [b"", b"this is a text file, not a video\n" * 20, bytes(range(256)) * 40])
def test_non_media_is_one_line_error(tmp_path, content):
    path = tmp_path / "fake.mp4"
    path.write_bytes(content)
    with pytest.raises(MediaError, match="fake.mp4") as err:
        list(sample_frames(path))
    assert "\n" not in str(err.value)


def test_missing_file_and_bad_rate(tmp_path):
    with pytest.raises(MediaError, match="no such file"):
        list(sample_frames(tmp_path / "gone.mp4"))
    with pytest.raises(ValueError):
        list(sample_frames(SAMPLE, 0))
