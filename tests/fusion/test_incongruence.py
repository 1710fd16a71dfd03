"""Incongruence: words that say fine with a face or voice that does not."""

from __future__ import annotations

from basics.labels import LABELS, valence_arousal_from_probs
from fusion.fuse import FusionWeights, fuse, view_from_cue
from fusion.incongruence import find_incongruence
from perception.cues import FaceCues, ProsodyCues, TextEmotion


def lean(label: str, p: float = 0.8) -> dict[str, float]:
    rest = (1.0 - p) / (len(LABELS) - 1)
    return {other: (p if other == label else rest) for other in LABELS}


def words(label: str, confidence: float = 0.8, text: str = "I'm fine") -> TextEmotion:
    probs = lean(label)
    valence, arousal = valence_arousal_from_probs(probs)
    return TextEmotion(text, probs, valence, arousal, 0.0, 1.0, confidence, "test")


def face(label: str, confidence: float = 0.9, p: float = 0.8) -> FaceCues:
    probs = lean(label, p)
    valence, arousal = valence_arousal_from_probs(probs)
    return FaceCues(0.8, 1.0, confidence, probs, valence, arousal, explanation="inner brows raised")


def voice(label: str, confidence: float = 0.7) -> ProsodyCues:
    probs = lean(label)
    valence, arousal = valence_arousal_from_probs(probs)
    return ProsodyCues(0.0, 1.0, confidence, {}, {}, probs, valence, arousal)


def state_of(*cues, enabled=("text", "voice", "face")):
    return fuse([view_from_cue(c, 1.0) for c in cues], FusionWeights(), enabled=enabled, t_s=1.0)


def test_im_fine_with_a_sad_face_is_flagged_in_words_and_the_state_follows_the_face():
    state = state_of(words("neutral"), face("sadness"))
    assert state.incongruent
    assert state.incongruence == "your words sound neutral, but your face looks sad"
    assert state.why == state.incongruence
    assert state.label == "sadness" and state.valence < 0
    # happy words with a sad face too
    assert state_of(words("joy", text="all good!"), face("sadness")).incongruent


def test_smiling_through_bad_news_is_flagged_and_the_smile_is_read_as_the_mask():
    state = state_of(words("sadness", text="my dog died"), face("joy", confidence=0.6))
    assert state.incongruent and state.incongruence == "your words sound sad, but your face looks happy"
    assert state.label == "sadness"  # no cheering someone smiling through bad news
    words_and_face_alike = state_of(words("sadness", text="my dog died"), face("sadness", confidence=0.6))
    assert state.confidence < words_and_face_alike.confidence  # a contradiction is weaker evidence


def test_neutral_or_surprised_words_with_a_smile_are_no_clash():
    for label in ("neutral", "surprise", "joy"):
        assert not state_of(words(label, text="what time is it?"), face("joy", p=0.95)).incongruent


def test_no_flag_when_words_and_face_agree():
    for label in ("sadness", "joy", "neutral", "anger"):
        state = state_of(words(label), face(label), voice(label))
        assert not state.incongruent and state.incongruence == "" and state.label == label
    # both negative, different labels: no clash of valence either
    assert not state_of(words("sadness"), face("fear")).incongruent


def test_an_unsure_face_or_a_calm_face_with_sad_words_is_no_flag():
    assert not state_of(words("neutral"), face("sadness", confidence=0.1)).incongruent
    assert not state_of(words("neutral", confidence=0.1), face("sadness")).incongruent
    assert not state_of(words("sadness", text="I'm so sad"), face("neutral")).incongruent


def test_voice_can_contradict_the_words_too_and_both_are_named():
    state = state_of(words("joy"), voice("anger"), face("sadness"))
    assert state.incongruent
    assert "your voice sounds angry" in state.incongruence and "your face looks sad" in state.incongruence


def test_switching_the_face_off_removes_its_disagreement():
    assert not state_of(words("neutral"), face("sadness"), enabled=("text", "voice")).incongruent


def test_words_alone_cannot_be_incongruent():
    views = [view_from_cue(face("sadness"), 1.0), view_from_cue(voice("joy"), 1.0)]
    assert find_incongruence(views) is None
