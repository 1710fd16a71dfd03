from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from basics.errors import MediaError
from perception.audio import (
    AudioWindow,
    audio_duration_s,
    audio_from_array,
    iter_audio_windows,
    load_audio,
    load_audio_bytes,
)

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="the ffmpeg program makes the test media")
needs_sox = pytest.mark.skipif(shutil.which("sox") is None, reason="the sox program makes the test media")


def one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


@pytest.fixture(scope="module")
def joy_wav(samples_dir: Path) -> Path:
    return samples_dir / "speech_joy.wav"


def test_wav_loads_as_float32_mono_16k(joy_wav: Path):
    audio = load_audio(joy_wav)
    reference, rate = soundfile.read(joy_wav, dtype="float32")
    assert rate == 16000 and audio.dtype == np.float32 and audio.ndim == 1
    np.testing.assert_allclose(audio, reference, atol=1e-6)


def test_resamples_to_the_rate_asked(joy_wav: Path):
    audio = load_audio(joy_wav, sample_rate_hz=8000)
    assert abs(len(audio) - len(load_audio(joy_wav)) / 2) <= 64


@needs_ffmpeg
@pytest.mark.parametrize("suffix, codec_args", [
    (".mp3", ["-c:a", "libmp3lame"]),
    (".flac", ["-c:a", "flac"]),
    (".ogg", ["-c:a", "libvorbis"]),
    (".webm", ["-c:a", "libopus"]),
])
def test_compressed_formats_decode_to_the_same_sound(tmp_path: Path, joy_wav: Path, suffix: str, codec_args):
    encoded = tmp_path / f"joy{suffix}"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(joy_wav), *codec_args, str(encoded)], check=True)
    original, decoded = load_audio(joy_wav), load_audio(encoded)
    assert abs(len(decoded) - len(original)) < 0.1 * 16000  # encoder padding only
    rms = lambda x: float(np.sqrt(np.mean(x ** 2)))  # noqa: E731
    assert rms(decoded) == pytest.approx(rms(original), rel=0.15)


@needs_ffmpeg
def test_mp4_video_gives_its_audio_track(tmp_path: Path, joy_wav: Path):
    video = tmp_path / "talk.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=duration=5:size=64x64:rate=10",
                    "-i", str(joy_wav), "-shortest", "-c:v", "libx264", "-c:a", "aac", str(video)], check=True)
    audio = load_audio(video)
    assert abs(len(audio) / 16000 - len(load_audio(joy_wav)) / 16000) < 0.2
    assert np.max(np.abs(audio)) > 0.1


@needs_ffmpeg
def test_video_without_audio_track_is_a_clear_error(tmp_path: Path):
    video = tmp_path / "silent_film.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=duration=1:size=64x64:rate=10",
                    "-c:v", "libx264", str(video)], check=True)
    with pytest.raises(MediaError) as err:
        load_audio(video)
    assert str(video) in one_line(err) and "no audio track" in str(err.value)


@needs_sox
def test_stereo_8k_mp3_becomes_mono_16k(tmp_path: Path, joy_wav: Path):
    mp3 = tmp_path / "phone.mp3"
    subprocess.run(["sox", str(joy_wav), "-r", "8000", "-c", "2", str(mp3)], check=True)
    audio = load_audio(mp3)
    assert audio.ndim == 1 and audio.dtype == np.float32
    assert abs(len(audio) - len(load_audio(joy_wav))) < 0.25 * 16000  # mp3 pads to whole frames


def test_missing_file(tmp_path: Path):
    with pytest.raises(MediaError) as err:
        load_audio(tmp_path / "nowhere.wav")
    assert "nowhere.wav" in one_line(err) and "no such file" in str(err.value)


def test_empty_file(tmp_path: Path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(MediaError) as err:
        load_audio(empty)
    assert "empty.wav" in one_line(err) and "empty" in str(err.value)
    with pytest.raises(MediaError):
        load_audio_bytes(b"")


@pytest.mark.parametrize("content", [b"this is a text file, not audio\n" * 20,
                                     np.random.default_rng(0).bytes(8000)])
def test_non_audio_bytes(tmp_path: Path, content: bytes):
    fake = tmp_path / "fake.mp3"
    fake.write_bytes(content)
    with pytest.raises(MediaError) as err:
        load_audio(fake)
    assert "fake.mp3" in one_line(err)
    with pytest.raises(MediaError):
        load_audio_bytes(content, label="upload")


def test_a_directory_is_not_a_file(tmp_path: Path):
    with pytest.raises(MediaError, match="not a file"):
        load_audio(tmp_path)


@pytest.mark.parametrize("bad_value", [np.nan, np.inf])
def test_nan_or_inf_samples_are_refused(tmp_path: Path, bad_value: float):
    samples = np.sin(np.linspace(0, 400, 16000)).astype(np.float32) * 0.3
    samples[5000:5100] = bad_value
    corrupt = tmp_path / "corrupt.wav"
    soundfile.write(corrupt, samples, 16000, subtype="FLOAT")
    with pytest.raises(MediaError) as err:
        load_audio(corrupt)
    assert "corrupt.wav" in one_line(err) and "NaN or infinite" in str(err.value)
    with pytest.raises(MediaError):
        list(iter_audio_windows(corrupt, window_s=0.25))


def test_tenth_of_a_second_of_silence_is_valid(tmp_path: Path):
    short = tmp_path / "blip.wav"
    soundfile.write(short, np.zeros(1600, dtype=np.float32), 16000)
    audio = load_audio(short)
    assert len(audio) == 1600 and not audio.any()


def test_bytes_load_like_the_file(joy_wav: Path):
    np.testing.assert_array_equal(load_audio_bytes(joy_wav.read_bytes()), load_audio(joy_wav))


def test_windows_join_back_into_the_whole(samples_dir: Path):
    path = samples_dir / "speech_long.wav"
    windows = list(iter_audio_windows(path, window_s=7.0))
    assert all(isinstance(w, AudioWindow) for w in windows)
    assert [w.t_start_s for w in windows] == [7.0 * i for i in range(len(windows))]
    assert all(len(w.samples) == 7 * 16000 for w in windows[:-1]) and 0 < len(windows[-1].samples) <= 7 * 16000
    np.testing.assert_array_equal(np.concatenate([w.samples for w in windows]), load_audio(path))


def test_two_hour_file_is_refused_whole_but_streams_in_windows(tmp_path: Path, write_sparse_wav):
    long_file = write_sparse_wav(tmp_path / "two_hours.wav", 2 * 3600)
    assert audio_duration_s(long_file) == pytest.approx(7200)
    started = time.perf_counter()
    with pytest.raises(MediaError) as err:
        load_audio(long_file)  # refused from the header, before decoding anything
    assert "two_hours.wav" in one_line(err) and "limit" in str(err.value)
    windows = iter_audio_windows(long_file, window_s=60)
    first, second = next(windows), next(windows)
    windows.close()
    assert (first.t_start_s, second.t_start_s) == (0.0, 60.0) and len(second.samples) == 60 * 16000
    assert time.perf_counter() - started < 5


def test_duration_limit_also_holds_when_the_header_is_not_trusted(samples_dir: Path):
    data = (samples_dir / "speech_long.wav").read_bytes()
    with pytest.raises(MediaError, match="limit"):
        load_audio_bytes(data, max_duration_s=5)  # no header check on bytes: the decoded count stops it
    assert len(load_audio_bytes(data, max_duration_s=None)) > 20 * 16000


def test_array_input_int16_stereo_48k():
    rate = 48000
    tone = (np.sin(2 * np.pi * 220 * np.arange(rate) / rate) * 16000).astype(np.int16)
    stereo = np.stack([tone, tone], axis=1)  # (samples, channels), as the browser sends it
    audio = audio_from_array(stereo, rate)
    assert audio.dtype == np.float32 and audio.ndim == 1 and len(audio) == 16000
    assert np.max(np.abs(audio)) == pytest.approx(16000 / 32768, rel=0.02)


def test_array_input_with_nan_is_refused():
    with pytest.raises(MediaError, match="NaN"):
        audio_from_array(np.array([0.0, np.nan, 0.1], dtype=np.float32), 16000, label="mic chunk")


def test_a_wav_with_a_codec_no_decoder_knows_is_named(tmp_path):
    import struct

    from perception.audio import load_audio

    body = np.zeros(1600, "<i2").tobytes()
    path = tmp_path / "odd_codec.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", 36 + len(body)) + b"WAVEfmt "
                     + struct.pack("<IHHIIHH", 16, 0x3A3A, 1, 16000, 32000, 2, 16) + b"data"
                     + struct.pack("<I", len(body)) + body)
    with pytest.raises(MediaError, match="odd_codec.wav: its audio codec is not supported"):
        load_audio(path)
