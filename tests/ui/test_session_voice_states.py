"""The live session hands the speech-to-text pass's encoder states to the voice model (no second encoder pass)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from perception.audio import load_audio
from ui.session import LiveSession

CHUNK_S = 0.5


class RecordingProsody:
    """Wraps the real extract_prosody and keeps the keyword arguments of each call."""

    def __init__(self, real):
        self.real = real
        self.args: list[tuple] = []
        self.kwargs: list[dict] = []

    def __call__(self, *args, **kwargs):
        self.args.append(args)
        self.kwargs.append(kwargs)
        return self.real(*args, **kwargs)


class AsrWithoutStates:
    """An engine that gives words but no encoder states (as openai-whisper or a test double would)."""

    def __init__(self, real):
        self.real = real

    def transcribe(self, audio, sample_rate_hz, offset_s=0.0):
        return self.real.transcribe(audio, sample_rate_hz, offset_s)


def one_turn(session: LiveSession, audio: np.ndarray, rate: int):
    session.set_consent("microphone", True)
    step = int(CHUNK_S * rate)
    turns = []
    for start in range(0, len(audio), step):
        turns += session.on_audio_chunk(audio[start:start + step], rate, t_s=start / rate)
    return turns + session.end_audio()


@pytest.fixture(scope="module")
def speech(browser_media):
    return load_audio(browser_media["wav"], 48000), 48000


def test_the_voice_reads_the_states_the_speech_to_text_pass_left(models, speech):
    from perception.prosody import extract_prosody, load_model

    audio, rate = speech
    prosody = RecordingProsody(models.extract_prosody)
    turns = one_turn(LiveSession(dataclasses.replace(models, extract_prosody=prosody)), audio, rate)
    assert len(turns) == 1 and turns[0].prosody is not None
    states = prosody.kwargs[-1].get("encoder_states")
    assert states is not None, "the session did not pass the ASR's encoder states to the voice"
    head = load_model().encoder
    assert head is not None and len(states) + len(load_model().input_names) == len(head.center)
    # the cue in the turn is the encoder head's reading of those states, not the prosody-only head's
    utterance, utterance_rate = prosody.args[-1][:2]
    assert turns[0].prosody.probs == pytest.approx(
        extract_prosody(utterance, utterance_rate, encoder_states=states).probs)
    assert turns[0].prosody.probs != pytest.approx(extract_prosody(utterance, utterance_rate).probs)


def test_an_engine_without_states_leaves_the_voice_to_the_prosodic_features(models, speech):
    audio, rate = speech
    prosody = RecordingProsody(models.extract_prosody)
    session = LiveSession(dataclasses.replace(models, extract_prosody=prosody, asr=AsrWithoutStates(models.asr)))
    turns = one_turn(session, audio, rate)
    assert len(turns) == 1 and turns[0].prosody is not None
    assert all("encoder_states" not in kwargs for kwargs in prosody.kwargs)
