"""Temporal smoothing: face frames move the state gradually; a new turn of words takes over at once."""

from __future__ import annotations

import pytest

from basics.labels import LABELS, valence_arousal_from_probs
from fusion.fuse import FusionTracker, FusionWeights
from fusion.smoothing import TIME_CONSTANTS_S, Reading, age_decay, smoothed_view
from perception.cues import FaceCues, TextEmotion

FPS = 5.0


def lean(label: str, p: float = 0.8) -> dict[str, float]:
    rest = (1.0 - p) / (len(LABELS) - 1)
    return {other: (p if other == label else rest) for other in LABELS}


def frame(label: str, t_s: float, confidence: float = 0.9) -> FaceCues:
    probs = lean(label)
    valence, arousal = valence_arousal_from_probs(probs)
    return FaceCues(t_s, t_s, confidence, probs, valence, arousal)


def turn(label: str, t_s: float) -> TextEmotion:
    probs = lean(label)
    valence, arousal = valence_arousal_from_probs(probs)
    return TextEmotion("words", probs, valence, arousal, t_s - 2.0, t_s, 0.8, "test")


def test_face_frames_move_the_state_gradually_not_in_one_jump():
    tracker = FusionTracker(weights=FusionWeights())
    t = 0.0
    for _ in range(int(3 * FPS)):  # three seconds of a sad face
        tracker.update(frame("sadness", t))
        t += 1 / FPS
    assert tracker.state(t).label == "sadness"
    joy = []
    for _ in range(int(3 * FPS)):  # then a smile
        tracker.update(frame("joy", t))
        joy.append(tracker.state(t).probs["joy"])
        t += 1 / FPS
    assert all(later > earlier for earlier, later in zip(joy, joy[1:]))  # rises every frame
    assert joy[0] < 0.4  # one smiling frame does not flip the state
    first_joy_frame = next(i for i, p in enumerate(joy) if p > 0.5)
    assert 1 <= first_joy_frame <= 2 * FPS  # but within two seconds it does
    assert tracker.state(t).label == "joy"


def test_one_odd_frame_is_smoothed_away():
    tracker = FusionTracker(weights=FusionWeights())
    for i in range(10):
        tracker.update(frame("sadness", i / FPS))
    tracker.update(frame("surprise", 10 / FPS))  # a blink or a misdetection
    assert tracker.state(10 / FPS).label == "sadness"


def test_a_new_turn_takes_over_but_the_last_one_still_counts_a_little():
    tracker = FusionTracker(weights=FusionWeights())
    tracker.update(turn("sadness", 5.0))
    tracker.update(turn("joy", 20.0))
    state = tracker.state(20.0)
    assert state.label == "joy"
    only_new = FusionTracker(weights=FusionWeights())
    only_new.update(turn("joy", 20.0))
    assert state.probs["sadness"] > only_new.state(20.0).probs["sadness"]  # the earlier turn lingers, weaker


def test_confidence_decays_with_age_by_the_modality_time_constant():
    reading = Reading("voice", 0.0, 0.8, lean("anger"), -0.6, 0.7)
    tau = TIME_CONSTANTS_S["voice"]
    at_once = smoothed_view([reading], 0.0, tau)
    later = smoothed_view([reading], tau, tau)
    assert at_once.confidence == pytest.approx(0.8)
    assert later.confidence == pytest.approx(0.8 * age_decay(tau, tau)) == pytest.approx(0.8 / 2.718281828, rel=1e-6)
    assert later.probs == pytest.approx(at_once.probs)  # age lowers trust, not the reading itself
    assert age_decay(-3.0, tau) == 1.0  # a cue stamped slightly in the future is simply fresh
    assert smoothed_view([], 0.0, tau) is None


def test_time_constants_follow_each_modality_pace():
    assert TIME_CONSTANTS_S["face"] < TIME_CONSTANTS_S["voice"] < TIME_CONSTANTS_S["text"]
    tracker = FusionTracker(weights=FusionWeights(), time_constants_s={"face": 100.0})
    tracker.update(frame("joy", 0.0))
    assert tracker.state(20.0).confidence > 0  # a slow face keeps counting when asked to


def test_a_quieter_sad_turn_right_after_a_confident_happy_one_leads_at_once():
    """'I got the job!' (sure) then 'But my old dog died yesterday' (less sure): the words now read sad."""
    happy = TextEmotion("I got the job!", lean("joy", 0.95), 0.8, 0.5, 3.0, 5.0, 0.95, "test")
    sad_probs = lean("sadness", 0.7)
    sad = TextEmotion("But my old dog died yesterday", sad_probs, *valence_arousal_from_probs(sad_probs), 7.0, 9.0,
                      0.55, "test")
    tracker = FusionTracker(weights=FusionWeights())
    tracker.update(happy)
    tracker.update(sad)
    state = tracker.state(9.5)
    assert state.label == "sadness" and state.valence < 0
    assert "sad" in state.why
