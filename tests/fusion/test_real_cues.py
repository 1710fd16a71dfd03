"""Fusion on cues from the real perception models: the real text head on written words and the real face path on
a real face (the public-domain astronaut photo from scikit-image, a smile)."""

from __future__ import annotations

import pytest

from fusion.fuse import FusionTracker

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smiling_face():
    import skimage.data

    from perception.face import FaceAnalyzer

    with FaceAnalyzer("image") as analyzer:
        cue = analyzer.analyze(skimage.data.astronaut(), t_s=10.0)
    assert cue.confidence > 0
    return cue


@pytest.fixture(scope="module")
def read_words():
    from perception.text_emotion import TextEmotionModel

    model = TextEmotionModel()
    return lambda text: model.predict(text, t_start_s=8.0, t_end_s=10.0)


def test_happy_words_and_a_smile_agree_and_the_state_says_why(smiling_face, read_words):
    tracker = FusionTracker()  # the committed weights
    tracker.update(read_words("I got the job, I am so happy!"))
    tracker.update(smiling_face)
    state = tracker.state(10.0)
    assert state.label == "joy" and state.valence > 0.3
    assert not state.incongruent
    assert "your face looks happy" in state.why and "smiling" in state.why
    assert len(state.contributions) == 2 and abs(sum(v.weight for v in state.contributions) - 1) < 1e-9


def test_sad_words_with_a_smile_are_incongruent(smiling_face, read_words):
    tracker = FusionTracker()
    tracker.update(read_words("My dog died this morning and I can't stop crying."))
    tracker.update(smiling_face)
    state = tracker.state(10.0)
    assert state.incongruent
    assert state.why.startswith("your words sound") and "but your face looks happy" in state.why
    assert state.label == "sadness"  # the smile is read as the mask, not the feeling


def test_fine_words_with_a_smile_are_no_clash(smiling_face, read_words):
    tracker = FusionTracker()
    tracker.update(read_words("I'm fine."))
    tracker.update(smiling_face)
    state = tracker.state(10.0)
    assert not state.incongruent and state.label == "joy"


def test_switching_the_camera_off_leaves_only_the_words(smiling_face, read_words):
    tracker = FusionTracker()
    words = read_words("My dog died this morning and I can't stop crying.")
    tracker.update(words)
    tracker.update(smiling_face)
    both = tracker.state(10.0)
    tracker.set_enabled("face", False)
    tracker.set_enabled("face", True)
    words_only = tracker.state(10.0)
    assert words_only.label == "sadness" and not words_only.incongruent
    assert [v.modality for v in words_only.contributions] == ["text"]
    assert words_only.confidence < both.confidence
