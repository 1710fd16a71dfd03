"""What the live panel says (ui/panel_text.py), case by case, without a browser: the readings are cues as the
perception models give them, fused by the real FusionTracker; one case runs the real text model in a LiveSession."""

from __future__ import annotations

import math

import pytest

from basics.labels import LABELS, valence_arousal_from_probs
from fusion.fuse import FusionTracker
from perception.cues import FaceCues, ProsodyCues, TextEmotion
from ui import panel_text
from ui.timeline_plot import render_timeline, with_gaps


def probs_with(top: str, p: float) -> dict[str, float]:
    rest = (1.0 - p) / (len(LABELS) - 1)
    return {label: p if label == top else rest for label in LABELS}


def words(top: str, p: float, confidence: float, t_s: float = 1.0) -> TextEmotion:
    probs = probs_with(top, p)
    valence, arousal = valence_arousal_from_probs(probs)
    return TextEmotion("...", probs, valence, arousal, t_s, t_s, confidence, "test")


def face(top: str, p: float, confidence: float, t_s: float = 1.0) -> FaceCues:
    probs = probs_with(top, p)
    valence, arousal = valence_arousal_from_probs(probs)
    return FaceCues(t_s, t_s, confidence, probs, valence, arousal, explanation="smiling")


def voice(top: str, p: float, confidence: float, t_s: float = 1.0) -> ProsodyCues:
    probs = probs_with(top, p)
    valence, arousal = valence_arousal_from_probs(probs)
    return ProsodyCues(t_s - 1, t_s, confidence, {}, {}, probs, valence, arousal)


def snapshot(cues: dict, consent: dict | None = None, now_s: float = 1.0, views: dict | None = None) -> dict:
    """What LiveSession.snapshot() gives: the fused state from the tracker, the latest cue per modality."""
    consent = consent if consent is not None else {"camera": True, "microphone": True}
    tracker = FusionTracker()
    for name, on in (("face", consent.get("camera")), ("voice", consent.get("microphone"))):
        tracker.set_enabled(name, bool(on))
    for cue in cues.get("history", []) + [c for m, c in cues.items() if m != "history"]:
        tracker.update(cue)
    latest = {m: cues.get(m) for m in ("text", "voice", "face")}
    return {"state": tracker.state(now_s), "views": views or latest, "consent": consent, "problems": [],
            "chat": [], "counters": {}, "transcripts": []}


def test_no_reading_says_so_and_claims_nothing():
    shot = snapshot({}, consent={})
    assert panel_text.fused_label_value(shot) is None
    text = panel_text.details_markdown(shot)
    assert "no reading yet" in text and "agree" not in text and "clash" not in text


def test_a_confident_reading_heads_the_panel_with_its_label():
    shot = snapshot({"text": words("anger", 0.8, 0.9), "face": face("anger", 0.8, 0.9)})
    value = panel_text.fused_label_value(shot)
    assert isinstance(value, dict) and max(value, key=value.get) == "anger"
    lines = panel_text.fused_lines(shot)
    assert lines[0].startswith("**Overall:** anger")
    assert lines[-1] == "Your words do not clash with your face"  # both sides have a reading: the claim is allowed


def test_low_confidence_shows_not_sure_instead_of_a_big_label():
    shot = snapshot({"text": words("fear", 0.78, 0.03)})
    assert shot["state"].confidence < panel_text.NOT_SURE_BELOW_CONFIDENCE
    assert panel_text.fused_label_value(shot) == panel_text.NOT_SURE
    assert "not sure" in panel_text.fused_lines(shot)[0]
    assert "fear 78" not in panel_text.fused_lines(shot)[0]


def test_the_heading_follows_the_latest_turn_not_an_older_one():
    # an earlier happy turn still counts a fifth in fusion; the latest words read anger, weakly
    older = words("joy", 0.9, 0.9, t_s=1.0)
    latest = words("anger", 0.34, 0.3, t_s=20.0)
    shot = snapshot({"history": [older], "text": latest}, consent={}, now_s=20.0)
    value = panel_text.fused_label_value(shot)
    assert value == panel_text.NOT_SURE or max(value, key=value.get) == "anger"
    why = panel_text.fused_lines(shot)[1]
    assert "happy" not in why and "joy" not in why


def test_no_clash_is_claimed_only_with_the_readings_that_are_sure():
    # seen in the browser: happy words and face, the voice barely read (disgust 0.29 at confidence 0.09)
    shot = snapshot({"text": words("joy", 0.9, 0.8), "face": face("joy", 0.95, 1.0),
                     "voice": voice("disgust", 0.29, 0.09)})
    assert not shot["state"].incongruent
    assert panel_text.fused_lines(shot)[-1] == "Your words do not clash with your face"
    unsure_words = snapshot({"text": words("joy", 0.3, 0.1), "face": face("joy", 0.95, 1.0)})
    assert "clash" not in "\n".join(panel_text.fused_lines(unsure_words))


def test_no_agreement_is_claimed_without_a_face_or_voice_reading():
    shot = snapshot({"text": words("anger", 0.8, 0.9)})
    text = panel_text.details_markdown(shot)
    assert "agree" not in text and "clash" not in text
    assert "**Face:** no reading yet" in text and "**Voice:** no reading yet" in text


def test_disagreement_names_both_sides():
    shot = snapshot({"text": words("neutral", 0.9, 0.9), "face": face("sadness", 0.9, 0.9)})
    if shot["state"].incongruent:
        assert "disagree" in panel_text.fused_lines(shot)[-1]
    shot = snapshot({"text": words("joy", 0.9, 0.9), "face": face("sadness", 0.9, 0.9)})
    assert shot["state"].incongruent
    assert "**Your words and your face disagree:**" in panel_text.fused_lines(shot)[-1]


def test_a_flat_voice_reading_is_not_sure_rather_than_a_label():
    flat = voice("disgust", 0.22, 0.5)
    shot = snapshot({"voice": flat})
    assert panel_text.modality_label_value(shot, "voice") == panel_text.NOT_SURE
    line = panel_text.modality_line(shot, "voice")
    assert "not sure" in line and "leaning disgust" in line


def test_a_modality_whose_consent_is_off_shows_nothing_of_it():
    stale_face = face("joy", 0.9, 0.9)  # a reading racing the revoke must not be shown
    shot = snapshot({"text": words("joy", 0.9, 0.9)}, consent={"camera": False, "microphone": False},
                    views={"text": words("joy", 0.9, 0.9), "voice": None, "face": stale_face})
    assert panel_text.modality_label_value(shot, "face") is None
    assert panel_text.modality_line(shot, "face") == "**Face:** camera off"
    assert "face" not in panel_text.fused_lines(shot)[1]
    assert panel_text.heard_markdown({**shot, "transcripts": ["old words"]}) == "*Heard: microphone off.*"


def test_fusions_why_is_dropped_when_it_names_a_modality_without_a_reading():
    shot = snapshot({"text": words("joy", 0.9, 0.9), "face": face("joy", 0.9, 0.9)})
    assert "face" in shot["state"].why
    without_face = {**shot, "views": {**shot["views"], "face": None}}
    why = panel_text.fused_lines(without_face)[1]
    assert "face" not in why and "words" in why


def test_the_persons_words_show_at_once_then_thinking_then_the_reply():
    base = {"chat": [], "busy": True, "replying": False, "pending_user_text": ""}
    assert panel_text.chat_messages(base) == [{"role": "assistant", "content": panel_text.HEARING}]
    heard = {**base, "pending_user_text": "I got the job"}
    assert panel_text.chat_messages(heard) == [{"role": "user", "content": "I got the job"},
                                                {"role": "assistant", "content": panel_text.THINKING}]
    turn = {**base, "pending_user_text": "", "replying": True, "chat": [{"role": "user", "content": "I got the job"}],
            "partial_reply": "So sorry to"}  # an attempt being written is never shown: it may be rejected
    assert panel_text.chat_messages(turn)[-1]["content"] == panel_text.THINKING
    done = {**turn, "busy": False, "replying": False, "partial_reply": "",
            "chat": turn["chat"] + [{"role": "assistant", "content": "Congratulations!"}]}
    assert panel_text.chat_messages(done) == done["chat"]


def test_the_replys_opener_shows_at_once_and_the_rest_when_checked():
    turn = {"chat": [{"role": "user", "content": "My dog died."}], "busy": True, "replying": True,
            "pending_user_text": "", "partial_reply": "I'm so sorry. He was", "reply_opening": "I'm so sorry."}
    # the opener (which every attempt and the fallback keep) and an ellipsis; never the attempt being written
    assert panel_text.chat_messages(turn)[-1] == {"role": "assistant", "content": "I'm so sorry. …"}
    done = {**turn, "busy": False, "replying": False, "partial_reply": "", "reply_opening": "",
            "chat": turn["chat"] + [{"role": "assistant", "content": "I'm so sorry. What was he like?"}]}
    assert panel_text.chat_messages(done) == done["chat"]


def test_timeline_breaks_the_line_at_gaps():
    t, v = with_gaps([0.0, 0.2, 0.4, 30.0, 30.2], [0.1, 0.2, 0.3, 0.4, 0.5])
    assert len(t) == 6 and math.isnan(v[3]) and t[3] == pytest.approx(15.2)
    events = [{"kind": "state", "t_s": t_s, "valence": 0.5, "arousal": 0.1} for t_s in (0.0, 0.2, 30.0)]
    figure = render_timeline(events)
    line = figure.axes[0].lines[0]
    assert any(math.isnan(y) for y in line.get_ydata())


def test_a_sentence_read_by_the_real_text_model_never_heads_the_panel_with_another_turns_label():
    from ui.session import LiveSession, load_models

    models = load_models(parts=("text", "fusion"))
    session = LiveSession(models)
    session.on_text("I got the job today, I'm so happy!")
    session.on_text("My landlord kept my whole deposit... I'm furious.")
    shot = session.snapshot()
    value = panel_text.fused_label_value(shot)
    latest = shot["views"]["text"]
    if isinstance(value, dict):
        assert max(value, key=value.get) == max(latest.probs, key=latest.probs.get)
    text = panel_text.details_markdown(shot)
    assert "agree" not in text and "clash" not in text and "happy" not in text.split("**Why:**")[1].split("  \n")[0]


def test_timeline_draws_states_in_time_order():
    events = [{"kind": "state", "t_s": t_s, "valence": 0.1 * t_s, "arousal": 0.0} for t_s in (1.0, 2.0, 1.5)]
    xs = [x for x in render_timeline(events).axes[0].lines[0].get_xdata() if x == x]
    assert xs == sorted(xs)
