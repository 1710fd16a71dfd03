"""The live session loop: consent gating at the edge, counters, purge on revoke, the ledger, voice-activity turns."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from perception.asr import word_error_rate
from perception.audio import load_audio
from ui.session import CONSENT_NAMES, LiveSession

CHUNK_S = 0.5  # what the browser streams


class Spy:
    """Counts every call that reaches a model; wraps the real thing when there is one."""

    def __init__(self, real=None):
        self.real = real
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.real(*args, **kwargs) if self.real is not None else None


class SpyAnalyzerFactory:
    def __init__(self, real_factory):
        self.real_factory = real_factory
        self.built = 0
        self.frames = 0

    def __call__(self):
        self.built += 1
        analyzer = self.real_factory()
        factory = self

        class Counting:
            def analyze(self, frame, t_s):
                factory.frames += 1
                return analyzer.analyze(frame, t_s)

            def close(self):
                analyzer.close()

        return Counting()


def stream(session: LiveSession, audio: np.ndarray, sample_rate_hz: int, t0_s: float = 0.0) -> list:
    """Feed audio as the browser does, in CHUNK_S pieces with their session times."""
    step = int(CHUNK_S * sample_rate_hz)
    turns = []
    for start in range(0, len(audio), step):
        turns += session.on_audio_chunk(audio[start:start + step], sample_rate_hz, t_s=t0_s + start / sample_rate_hz)
    return turns


@pytest.fixture(scope="module")
def speech(browser_media):
    return load_audio(browser_media["wav"], 48000), 48000


@pytest.fixture(scope="module")
def face_frame(browser_media):
    from PIL import Image

    return np.asarray(Image.open(browser_media["png"]).convert("RGB"))


def test_consent_starts_off_and_every_change_is_in_the_ledger(models):
    session = LiveSession(models)
    assert session.consent.as_dict() == {name: False for name in CONSENT_NAMES}
    assert session.set_consent("camera", True)
    assert not session.set_consent("camera", True)  # no change, nothing written
    assert session.set_consent("store", True)
    assert session.set_consent("camera", False)
    ledger = session.consent.ledger
    assert [(c.name, c.granted) for c in ledger] == [("camera", True), ("store", True), ("camera", False)]
    assert all(a.t_s <= b.t_s for a, b in zip(ledger, ledger[1:]))
    assert all(c.time_utc.endswith("+00:00") for c in ledger)
    assert session.report()["ledger"][0]["name"] == "camera"
    with pytest.raises(ValueError, match="unknown consent toggle"):
        session.set_consent("telepathy", True)


def test_frames_without_camera_consent_never_reach_a_model(models, face_frame):
    spy = SpyAnalyzerFactory(models.new_face_analyzer)
    session = LiveSession(dataclasses.replace(models, new_face_analyzer=spy))
    for i in range(5):
        assert session.on_frame(face_frame, t_s=i * 0.2) is None
    assert spy.built == 0 and spy.frames == 0
    assert session.counters["frames_received"] == 5
    assert session.counters["frames_dropped_no_consent"] == 5
    assert session.counters["frames_analyzed"] == 0
    assert session.last_face is None and not [e for e in session.timeline() if e["kind"] == "face"]

    session.set_consent("camera", True)
    cues = session.on_frame(face_frame, t_s=1.0)
    assert spy.frames == 1 and session.counters["frames_analyzed"] == 1
    assert cues.confidence > 0 and max(cues.probs, key=cues.probs.get) == "joy"  # the astronaut smiles
    assert session.state is not None and session.state.label == "joy"
    face_weight = {v.modality: v.weight for v in session.state.contributions}.get("face", 0.0)
    assert face_weight > 0

    session.set_consent("camera", False)  # revoke: the face readings are purged, fusion forgets them
    assert session.last_face is None
    assert not [e for e in session.timeline() if e["kind"] == "face"]
    assert {v.modality: v.weight for v in session.state.contributions}.get("face", 0.0) == 0
    assert session.on_frame(face_frame, t_s=2.0) is None
    assert spy.frames == 1 and session.counters["frames_dropped_no_consent"] == 6
    session.close()


def test_audio_without_microphone_consent_never_reaches_a_model(models, speech):
    audio, rate = speech
    vad, asr = Spy(models.speech_segments), Spy()
    asr.transcribe = asr  # the ASR object's one method
    session = LiveSession(dataclasses.replace(models, speech_segments=vad, asr=asr))
    assert stream(session, audio, rate) == [] and session.end_audio() == []
    chunks = session.counters["audio_chunks_received"]
    assert chunks == int(np.ceil(len(audio) / (CHUNK_S * rate)))
    assert session.counters["audio_chunks_dropped_no_consent"] == chunks
    assert vad.calls == 0 and asr.calls == 0
    assert session.buffered_audio_s == 0 and session.counters["utterances"] == 0


def test_speech_then_silence_makes_one_turn_with_the_words(models, speech, browser_media):
    audio, rate = speech
    session = LiveSession(models)
    session.set_consent("microphone", True)
    turns = stream(session, audio, rate, t0_s=10.0)
    assert len(turns) == 1, "the silence after the speech must end the turn without waiting for end_audio"
    turn = turns[0]
    assert word_error_rate(browser_media["text"], turn.text) <= 0.2
    assert 10.0 <= turn.t_start_s < turn.t_end_s <= 10.0 + len(audio) / rate
    assert turn.text_emotion is not None and turn.prosody is not None and turn.reply is not None
    assert turn.state is not None and {v.modality for v in turn.state.contributions} >= {"text"}
    assert session.counters["utterances"] == 1 and session.counters["replies"] == 1
    assert session.chat[-2]["content"] == turn.text and session.chat[-1]["content"] == turn.reply.text
    assert session.end_audio() == []  # the trailing silence is not a second turn


def test_revoking_the_microphone_purges_speech_not_yet_answered(models, speech):
    audio, rate = speech
    session = LiveSession(models)
    session.set_consent("microphone", True)
    stream(session, audio[: int(2.0 * rate)], rate)  # mid-sentence: nothing answered yet
    assert session.buffered_audio_s > 1.0 and session.counters["utterances"] == 0
    session.set_consent("microphone", False)
    assert session.buffered_audio_s == 0
    assert session.end_audio() == [] and session.counters["utterances"] == 0
    assert session.counters["purges"] == 1


def test_background_turns_leave_the_stream_free(models, speech):
    audio, rate = speech
    session = LiveSession(models, background_turns=True)
    session.set_consent("microphone", True)
    assert stream(session, audio, rate) == []  # the stream handler never waits for the reply
    assert session.wait_idle(60.0)
    assert len(session.turns) == 1 and session.turns[0].reply is not None
    assert session.turns[0].speech_end_to_reply_s > 0
    session.close()


def test_typed_text_streams_the_reply(models):
    session = LiveSession(models)
    pieces: list[str] = []
    turn = session.on_text("I passed my driving test this morning!", on_token=pieces.append)
    assert turn.reply is not None and turn.reply.text.strip()
    assert turn.text_emotion is not None
    assert session.chat == [{"role": "user", "content": "I passed my driving test this morning!"},
                            {"role": "assistant", "content": turn.reply.text}]
    if turn.reply.route == "generated":  # a checked and rewritten reply may differ from what streamed
        assert "".join(pieces).strip()
    assert session.on_text("   ") is None and session.counters["turns"] == 1


def test_the_replys_opener_is_on_screen_while_the_rest_is_written(models):
    from ui import panel_text

    session = LiveSession(models)
    shown: list[list[dict]] = []
    said = "My dog died yesterday and the house feels so empty."
    turn = session.on_text(said, on_token=lambda piece: shown.append(panel_text.chat_messages(session.snapshot())))
    assert turn.reply is not None and len(shown) >= 2
    opening = shown[0][-1]["content"]
    # from the first piece on, the page shows the opener and an ellipsis, never an attempt being written
    assert opening.endswith(" …") and all(view[-1]["content"] == opening for view in shown)
    assert turn.reply.text.startswith(opening[:-2] + " ")
    assert session.snapshot()["reply_opening"] == ""  # cleared once the reply is in the chat


def test_a_remote_llm_gets_nothing_without_remote_consent(models):
    class RemoteSpy:  # stands where an HTTP backend's responder would: records what would have left the machine
        def __init__(self):
            self.sent: list[str] = []

        def respond(self, text, **kwargs):
            self.sent.append(text)
            return models.local_responder.respond(text, **kwargs)

    remote = RemoteSpy()
    session = LiveSession(dataclasses.replace(models, responder=remote, backend_remote=True))
    turn = session.on_text("Work has been really stressful lately.")
    assert remote.sent == [] and turn.reply is not None and turn.reply.route == "fallback"  # a local template
    session.set_consent("remote", True)
    session.on_text("I can't sleep because of it.")
    assert remote.sent == ["I can't sleep because of it."]
    session.set_consent("remote", False)
    session.on_text("Maybe I need a holiday.")
    assert remote.sent == ["I can't sleep because of it."]


def test_a_recording_with_two_sentences_gives_two_turns_in_order(models, speech, browser_media):
    audio, rate = speech
    listening_only = dataclasses.replace(models, responder=None)  # turn-taking is the point here, not replies
    session = LiveSession(listening_only)
    assert session.on_utterance(audio, rate) == []  # no microphone consent: not even cut
    session.set_consent("microphone", True)
    turns = session.on_utterance(np.concatenate([audio, audio]), rate)
    assert len(turns) == 2 and session.counters["utterances"] == 2
    assert turns[0].t_end_s <= turns[1].t_start_s
    assert all(word_error_rate(browser_media["text"], t.text) <= 0.2 for t in turns)
    assert session.chat[-1]["content"].startswith("(no reply")  # said plainly, not hidden


def test_bad_media_is_reported_not_raised(models):
    session = LiveSession(models)
    session.set_consent("camera", True)
    session.set_consent("microphone", True)
    assert session.on_frame(np.zeros((1, 1, 3), dtype=np.uint8), t_s=0.1).confidence == 0  # no face, a reason
    odd = session.on_frame(np.full((64, 64, 3), np.nan), t_s=0.2)  # refused or read as no face, never raised
    assert odd is None or odd.confidence == 0
    assert session.on_audio_chunk(np.array([0.1, np.nan, 0.2], dtype=np.float32), 48000) == []
    assert session.on_audio_chunk(np.zeros(0, dtype=np.int16), 48000) == []
    assert session.on_audio_chunk(np.zeros(100, dtype=np.int16), 0) == []
    assert session.end_audio() == [] and session.counters["utterances"] == 0
    assert any("NaN" in p or "nan" in p.lower() for p in session.problems)
    assert all("\n" not in p for p in session.problems)
    session.close()


def test_a_face_that_went_quiet_fades_from_the_state(models, face_frame):
    clock = [100.0]
    session = LiveSession(models, clock=lambda: clock[0])
    session.set_consent("camera", True)
    session.on_frame(face_frame)
    assert session.state.label == "joy" and not session.refresh_state()  # nothing changed yet
    clock[0] += 120.0  # two minutes without a frame
    assert session.refresh_state()
    assert session.state.confidence < 0.05
    session.close()


def test_the_safety_level_and_reason_are_in_the_reply_event_and_the_panel(models):
    session = LiveSession(models)
    turn = session.on_text("my friend says she wants to die")
    assert turn.reply is not None and turn.reply.route == "crisis"
    event = [e for e in session.timeline() if e["kind"] == "reply"][-1]
    assert event["appraisal"]["safety_level"] == "crisis"
    assert "risk to someone else" in event["appraisal"]["safety_reason"]
    assert session.snapshot()["safety"] == ("crisis", turn.reply.appraisal.safety_reason)
    session.on_text("I passed my driving test this morning!")
    assert session.snapshot()["safety"] == ("none", "")


def test_the_reply_event_and_the_panel_carry_the_cause_and_its_turn(models):
    session = LiveSession(dataclasses.replace(models, responder=models.local_responder))
    session.on_text("My sister crashed my car last night.")
    turn = session.on_text("I'm so angry, she didn't even say sorry.")
    replies = [e for e in session.timeline() if e["kind"] == "reply"]
    appraisal = replies[-1]["appraisal"]
    assert {"cause", "cause_turn", "cause_speaker"} <= set(appraisal)
    assert appraisal["cause_turn"] == turn.reply.appraisal.cause_turn
    assert appraisal["cause_speaker"] in ("user", "agent")
    assert appraisal["cause"] and session.snapshot()["because"].startswith(f'because: "{appraisal["cause"]}"')
    from ui.panel_text import details_markdown

    assert session.snapshot()["because"] in details_markdown(session.snapshot())
