from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from basics.errors import MediaError
from perception.audio import load_audio
from perception.vad import SpeechSegment, speech_segments

pytestmark = pytest.mark.slow  # runs the Silero model


@pytest.fixture(scope="module")
def long_audio(samples_dir: Path) -> np.ndarray:
    return load_audio(samples_dir / "speech_long.wav")


@pytest.fixture(scope="module")
def long_sentences(samples_dir: Path) -> list[str]:
    return json.loads((samples_dir / "transcripts.json").read_text())["speech_long.wav"]["sentences"]


def test_long_sample_splits_into_its_sentences(long_audio: np.ndarray, long_sentences: list[str]):
    segments = speech_segments(long_audio)
    assert len(segments) == len(long_sentences)  # make_samples.py puts 1.2 s of silence between sentences
    assert all(isinstance(s, SpeechSegment) for s in segments)
    assert all(0 <= s.t_start_s < s.t_end_s <= len(long_audio) / 16000 for s in segments)
    for before, after in zip(segments, segments[1:]):
        assert after.t_start_s - before.t_end_s > 0.5  # the pauses stay outside the utterances
    # speech starts after make_samples' 0.3 s lead-in (less the 0.2 s pad) and every segment really is loud
    assert 0.0 <= segments[0].t_start_s < 0.4
    for s in segments:
        inside = long_audio[int(s.t_start_s * 16000):int(s.t_end_s * 16000)]
        assert np.sqrt(np.mean(inside ** 2)) > 0.02


def test_gaps_between_utterances_are_silent(long_audio: np.ndarray):
    segments = speech_segments(long_audio)
    for before, after in zip(segments, segments[1:]):
        gap = long_audio[int(before.t_end_s * 16000):int(after.t_start_s * 16000)]
        assert np.max(np.abs(gap)) < 0.01


def test_offset_shifts_every_time(long_audio: np.ndarray):
    plain = speech_segments(long_audio)
    shifted = speech_segments(long_audio, offset_s=100.0)
    assert [s.t_start_s + 100.0 for s in plain] == pytest.approx([s.t_start_s for s in shifted])


def test_no_utterance_runs_past_the_limit(long_audio: np.ndarray):
    # a long pause requirement would merge everything into one; the limit must still cut it
    segments = speech_segments(long_audio, min_silence_s=5.0, max_utterance_s=8.0)
    assert len(segments) >= 3
    assert all(s.duration_s <= 8.0 + 0.5 for s in segments)  # + the padding either side


@pytest.mark.parametrize("audio", [
    np.zeros(1600, dtype=np.float32),  # 0.1 s of silence
    np.zeros(0, dtype=np.float32),
    np.zeros(5 * 16000, dtype=np.float32),
    np.random.default_rng(1).normal(0, 0.002, 5 * 16000).astype(np.float32),  # faint hiss
])
def test_no_speech_gives_no_segments(audio: np.ndarray):
    assert speech_segments(audio) == []


def test_other_rates_and_nan_are_refused(long_audio: np.ndarray):
    with pytest.raises(MediaError, match="16000 Hz"):
        speech_segments(long_audio, sample_rate_hz=8000)
    corrupt = long_audio.copy()
    corrupt[100] = np.nan
    with pytest.raises(MediaError, match="NaN"):
        speech_segments(corrupt)


def test_segment_is_frozen():
    segment = SpeechSegment(1.0, 2.5)
    assert segment.duration_s == 1.5
    with pytest.raises(dataclasses.FrozenInstanceError):
        segment.t_start_s = 0.0  # type: ignore[misc]
