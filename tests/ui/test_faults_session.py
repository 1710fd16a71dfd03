"""A perception model that raises or returns NaN: that modality drops out of fusion for that moment, the session
goes on (the other modalities, the next frame, the next turn), and the session's problems (shown in the UI) say so.

Real models on real media; the faults are put in by wrapping the real model objects.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from agent.responder import Responder
from perception.audio import load_audio
from ui.session import LiveSession

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real(models):
    """The real models (tests/ui/conftest.py loads them once for all ui tests)."""
    return models


@pytest.fixture(scope="module")
def face_frame(browser_media):
    from PIL import Image

    return np.asarray(Image.open(browser_media["png"]).convert("RGB"))


@pytest.fixture(scope="module")
def speech(browser_media):
    return load_audio(browser_media["wav"], 16000)


def nan_copy(cue):
    """The same reading with every number NaN, as a model with a broken weight file gives it."""
    return dataclasses.replace(cue, probs={k: math.nan for k in cue.probs}, valence=math.nan, arousal=math.nan)


class Faulty:
    """Wraps a real model: `fault(call_number)` says what the n-th call does: None (the real answer), "raise", "nan"."""

    def __init__(self, real, fault):
        self.real, self.fault, self.calls = real, fault, 0

    def __call__(self, result_of):
        self.calls += 1
        what = self.fault(self.calls)
        if what == "raise":
            raise RuntimeError("model blew up")
        result = result_of()
        return nan_copy(result) if what == "nan" else result


@pytest.fixture
def session_with(real):
    """A session on the real models with some swapped for faulty ones; closed after the test, because a mediapipe
    FaceLandmarker left to the garbage collector was seen to deadlock in its __del__ (it waits on its own thread)."""
    made = []

    def make(**changes) -> LiveSession:
        models = dataclasses.replace(real, responder=Responder(None), locks=real.locks, **changes)
        session = LiveSession(models)
        for name in ("camera", "microphone"):
            session.set_consent(name, True)
        made.append(session)
        return session
    yield make
    for session in made:
        session.close()


def finite_state(state) -> bool:
    return state is not None and all(math.isfinite(v) for v in (*state.probs.values(), state.valence,
                                                                 state.arousal, state.confidence))


def face_factory(real, fault):
    faulty = Faulty(None, fault)

    def new():
        analyzer = real.new_face_analyzer()

        class Analyzer:
            def analyze(self, rgb, t_s):
                return faulty(lambda: analyzer.analyze(rgb, t_s))

            def close(self):
                analyzer.close()

        return Analyzer()
    return new, faulty


@pytest.mark.parametrize("fault", ["raise", "nan"])
def test_a_failing_face_model_drops_the_face_for_that_frame_only(real, session_with, face_frame, fault):
    new, faulty = face_factory(real, lambda n: fault if n % 2 == 0 else None)
    session = session_with(new_face_analyzer=new)
    readings = [session.on_frame(face_frame, t_s=0.2 * i) for i in range(6)]
    assert faulty.calls == 6
    assert all(r is not None and r.confidence > 0 for r in readings[0::2])  # frames 1, 3, 5 are fine
    assert all(r is None for r in readings[1::2])  # the broken ones gave nothing
    assert finite_state(session.state) and session.state.label == "joy"
    face_events = [e for e in session.timeline() if e["kind"] == "face"]
    assert len(face_events) == 3 and all(math.isfinite(v) for e in face_events for v in e["probs"].values())
    assert session.last_face is readings[4]
    problems = " | ".join(session.report()["problems"])
    assert ("face analysis failed: model blew up" if fault == "raise" else "face reading was not a number") in problems
    assert session.on_text("Look at my new haircut!").reply is not None  # and the conversation goes on


@pytest.mark.parametrize("fault", ["raise", "nan"])
def test_a_failing_text_model_leaves_the_face_and_the_reply(real, session_with, face_frame, fault):
    class Text:
        name = "faulty text"

        def __init__(self):
            self.faulty = Faulty(None, lambda n: fault)

        def predict(self, text, t_start_s=0.0, t_end_s=0.0):
            return self.faulty(lambda: real.text_emotion.predict(text, t_start_s, t_end_s))

    text = Text()
    session = session_with(text_emotion=text)
    session.on_frame(face_frame, t_s=0.0)
    turn = session.on_text("I am so happy today, I got the job!")
    assert text.faulty.calls == 1
    assert turn.text_emotion is None and turn.reply is not None and turn.reply.text.strip()
    assert finite_state(session.state)
    assert [v.modality for v in session.state.contributions if v.weight > 0] == ["face"]
    assert all(e["kind"] != "text" or math.isfinite(e["valence"]) for e in session.timeline())
    expected = "text emotion failed: model blew up" if fault == "raise" else "text reading was not a number"
    assert any(expected in p for p in turn.problems) and any(expected in p for p in session.report()["problems"])


def test_failing_speech_models_lose_one_turn_or_one_cue_not_the_session(real, session_with, speech):
    asr = Faulty(None, lambda n: "raise" if n == 1 else None)
    prosody = Faulty(None, lambda n: "nan" if n == 1 else "raise" if n == 2 else None)

    class ASR:
        def transcribe(self, audio, sample_rate_hz):
            return asr(lambda: real.asr.transcribe(audio, sample_rate_hz))

    def extract_prosody(*args):
        return prosody(lambda: real.extract_prosody(*args))

    session = session_with(asr=ASR(), extract_prosody=extract_prosody)
    assert session.on_utterance(speech, 16000) == []  # ASR blew up: that turn is lost ...
    assert "speech-to-text failed: model blew up" in session.report()["problems"]
    turns = session.on_utterance(speech, 16000) + session.on_utterance(speech, 16000)  # ... the next ones are not
    assert len(turns) == 2 and all(t.reply is not None for t in turns)
    assert turns[0].prosody is None and any("voice reading was not a number" in p for p in turns[0].problems)
    assert turns[1].prosody is None and any("prosody failed: model blew up" in p for p in turns[1].problems)
    assert finite_state(session.state)
    assert "voice" not in [v.modality for v in session.state.contributions if v.weight > 0]
    third = session.on_utterance(speech, 16000)
    assert third and third[0].prosody is not None and math.isfinite(third[0].prosody.valence)
