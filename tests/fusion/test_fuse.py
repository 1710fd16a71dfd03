"""Fusion math: confidence and per-class reliability weighting, switching modalities off, stale and NaN cues."""

from __future__ import annotations

import json
import math

import pytest

from basics.labels import LABELS, normalise_probs, valence_arousal_from_probs
from fusion.fuse import (
    FusionTracker,
    FusionWeights,
    ModalityReliability,
    fuse,
    load_weights,
    reading_from_cue,
    view_from_cue,
)
from fusion.smoothing import TIME_CONSTANTS_S
from perception.cues import FaceCues, ProsodyCues, TextEmotion

EQUAL = FusionWeights()


def lean(label: str, p: float = 0.8) -> dict[str, float]:
    """p on one label, the rest spread evenly."""
    rest = (1.0 - p) / (len(LABELS) - 1)
    return {other: (p if other == label else rest) for other in LABELS}


def text_cue(label: str, t_s: float = 0.0, confidence: float = 0.8, p: float = 0.8) -> TextEmotion:
    probs = lean(label, p)
    valence, arousal = valence_arousal_from_probs(probs)
    return TextEmotion("some words", probs, valence, arousal, t_s - 1.0, t_s, confidence, "test")


def face_cue(label: str, t_s: float = 0.0, confidence: float = 0.9, p: float = 0.8, explanation: str = "") -> FaceCues:
    probs = lean(label, p)
    valence, arousal = valence_arousal_from_probs(probs)
    return FaceCues(t_s - 0.2, t_s, confidence, probs, valence, arousal, explanation=explanation)


def voice_cue(label: str, t_s: float = 0.0, confidence: float = 0.7, z_scores: dict | None = None) -> ProsodyCues:
    probs = lean(label)
    valence, arousal = valence_arousal_from_probs(probs)
    return ProsodyCues(t_s - 1.5, t_s, confidence, {}, z_scores or {}, probs, valence, arousal)


def views(*cues, now_s: float = 0.0):
    return [view_from_cue(cue, now_s) for cue in cues]


def reliability(per_class: dict[str, float], default: float = 0.5) -> ModalityReliability:
    return ModalityReliability(per_class={label: per_class.get(label, default) for label in LABELS},
                               valence=0.5, arousal=0.5, overall=0.5, fitted=True)


def test_a_confident_modality_dominates_an_unsure_one():
    state = fuse(views(text_cue("sadness", confidence=0.9), face_cue("joy", confidence=0.1)), EQUAL)
    assert state.label == "sadness"
    share = {v.modality: v.weight for v in state.contributions}
    assert share["text"] > 0.8 > 0.2 > share["face"]
    # and the other way round, so it is the confidence deciding, not the modality
    flipped = fuse(views(text_cue("sadness", confidence=0.1), face_cue("joy", confidence=0.9)), EQUAL)
    assert flipped.label == "joy"
    assert flipped.valence > 0 > state.valence


def test_weights_and_probabilities_each_sum_to_one():
    state = fuse(views(text_cue("fear", p=0.5), face_cue("surprise", p=0.6), voice_cue("anger")), load_weights())
    assert math.isclose(sum(state.probs.values()), 1.0, abs_tol=1e-9)
    assert math.isclose(sum(v.weight for v in state.contributions), 1.0, abs_tol=1e-9)
    assert all(0 < v.weight < 1 for v in state.contributions)
    assert set(state.probs) == set(LABELS)
    assert -1 <= state.valence <= 1 and -1 <= state.arousal <= 1 and 0 < state.confidence < 1


def test_per_class_reliability_decides_a_disagreement():
    # Face says joy, voice says sadness, equally sure. Whoever is reliable on those classes wins.
    cues = views(voice_cue("sadness", confidence=0.8), face_cue("joy", confidence=0.8))
    face_knows_joy = FusionWeights({"face": reliability({"joy": 0.9, "sadness": 0.3}),
                                    "voice": reliability({"joy": 0.2, "sadness": 0.4})})
    voice_knows_all = FusionWeights({"face": reliability({"joy": 0.2, "sadness": 0.2}),
                                     "voice": reliability({"joy": 0.9, "sadness": 0.9})})
    assert fuse(cues, face_knows_joy).label == "joy"
    assert fuse(cues, voice_knows_all).label == "sadness"


def test_switching_a_modality_off_ignores_it_and_lowers_confidence():
    cues = views(text_cue("joy"), face_cue("sadness"), voice_cue("sadness"))
    everything = fuse(cues, EQUAL)
    words_only = fuse(cues, EQUAL, enabled=("text",))
    assert [v.modality for v in words_only.contributions] == ["text"]
    assert words_only.label == "joy" and everything.label == "sadness"
    assert 0 < words_only.confidence < everything.confidence
    assert words_only.contributions[0].weight == pytest.approx(1.0)
    # the words alone give exactly the words' reading: nothing of the face or voice leaks in
    assert words_only.probs == pytest.approx(fuse(views(text_cue("joy")), EQUAL).probs)


def test_no_modality_gives_a_neutral_state_with_no_confidence():
    dropped = view_from_cue(face_cue("joy", confidence=0.0))
    assert dropped is None
    for state in (fuse([], EQUAL), fuse([dropped], EQUAL), fuse(views(text_cue("anger")), EQUAL, enabled=())):
        assert state.label == "neutral" and state.confidence == 0.0
        assert state.valence == 0.0 and state.contributions == () and not state.incongruent
        assert state.why


def test_tracker_purges_a_switched_off_modality_even_after_it_is_back_on():
    words_only = FusionTracker(weights=EQUAL)
    words_only.update(text_cue("neutral", t_s=1.0))

    tracker = FusionTracker(weights=EQUAL)
    tracker.update(text_cue("neutral", t_s=1.0))
    tracker.update(face_cue("sadness", t_s=1.0, confidence=1.0, p=0.95))
    assert tracker.state(1.0).label == "sadness"
    tracker.set_enabled("face", False)
    assert tracker.update(face_cue("anger", t_s=1.5)) is False  # dropped at the edge while off
    tracker.set_enabled("face", True)
    state = tracker.state(2.0)
    assert [v.modality for v in state.contributions] == ["text"]
    assert state.probs == pytest.approx(words_only.state(2.0).probs)
    assert state.confidence == pytest.approx(words_only.state(2.0).confidence)
    # a fresh face cue after consent returns counts again
    assert tracker.update(face_cue("joy", t_s=2.0))
    assert "face" in {v.modality for v in tracker.state(2.0).contributions}


def test_tracker_constructed_with_a_subset_only_takes_those():
    tracker = FusionTracker(weights=EQUAL, enabled=("face",))
    assert tracker.enabled == frozenset({"face"})
    assert tracker.update(text_cue("joy")) is False
    assert tracker.update(face_cue("joy"))
    with pytest.raises(ValueError, match="unknown modalit"):
        FusionTracker(weights=EQUAL, enabled=("camera",))


def test_stale_cues_count_less_then_drop_out():
    tracker = FusionTracker(weights=EQUAL)
    tracker.update(face_cue("joy", t_s=0.0))
    fresh, older = tracker.state(0.0), tracker.state(2 * TIME_CONSTANTS_S["face"])
    assert older.label == "joy" and 0 < older.confidence < fresh.confidence
    long_gone = tracker.state(10 * TIME_CONSTANTS_S["face"])
    assert long_gone.confidence == 0.0 and long_gone.label == "neutral"
    # and a stale face does not outweigh fresh words
    tracker.update(face_cue("joy", t_s=20.0))
    tracker.update(text_cue("sadness", t_s=29.0, confidence=0.6))
    assert tracker.state(29.0).label == "sadness"


@pytest.mark.parametrize("broken", [
    face_cue("sadness", t_s=1.0, confidence=float("nan")),
    FaceCues(0.8, 1.0, 0.9, lean("sadness"), float("nan"), 0.1),
    FaceCues(0.8, 1.0, 0.9, {**lean("sadness"), "fear": float("nan")}, -0.7, 0.1),
    FaceCues(0.8, 1.0, 0.0, lean("sadness"), -0.7, -0.4, reason="no face found"),
    ProsodyCues(0.0, 1.0, float("inf"), {}, {}, lean("anger"), -0.6, 0.7),
])
def test_a_nan_or_zero_confidence_cue_drops_out(broken):
    assert reading_from_cue(broken) is None
    tracker = FusionTracker(weights=EQUAL)
    tracker.update(text_cue("joy", t_s=1.0))
    before = tracker.state(1.0)
    assert tracker.update(broken) is False
    after = tracker.state(1.0)
    assert after.probs == before.probs and [v.modality for v in after.contributions] == ["text"]
    assert all(math.isfinite(x) for x in (after.valence, after.arousal, after.confidence))


def test_each_cue_type_maps_to_its_modality_in_the_shared_space():
    for cue, modality in ((text_cue("joy"), "text"), (voice_cue("anger"), "voice"), (face_cue("fear"), "face")):
        view = view_from_cue(cue)
        assert view.modality == modality
        assert set(view.probs) == set(LABELS) and math.isclose(sum(view.probs.values()), 1.0)
    # probabilities missing labels or unnormalised are normalised over the 7
    partial = TextEmotion("x", {"joy": 2.0, "neutral": 2.0}, 0.4, 0.2, 0.0, 1.0, 0.5, "test")
    assert view_from_cue(partial).probs == pytest.approx(normalise_probs({"joy": 0.5, "neutral": 0.5}))
    with pytest.raises(TypeError, match="fusion takes"):
        FusionTracker(weights=EQUAL).update("I am a string")


def test_a_malformed_weights_file_is_a_one_line_error(tmp_path):
    bad = tmp_path / "w.json"
    bad.write_text(json.dumps({"format": "empathic-fusion-weights/1", "modalities": {"face": {"status": "fitted"}}}))
    with pytest.raises(ValueError, match=r"w\.json: malformed fusion weights") as err:
        load_weights(bad)
    assert "\n" not in str(err.value)
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(ValueError, match="junk.json: cannot read"):
        load_weights(tmp_path / "junk.json")


def test_purge_forgets_without_switching_off():
    tracker = FusionTracker(weights=EQUAL)
    assert tracker.update(face_cue("joy", t_s=3.0)) and tracker.update(text_cue("sadness", t_s=3.5))
    tracker.purge("face")
    assert tracker.enabled == frozenset({"text", "voice", "face"})
    assert [v.modality for v in tracker.state(4.0).contributions] == ["text"]
    tracker.reset()
    assert tracker.state(4.0).confidence == 0.0


def test_neutral_words_leave_an_emotional_voice_its_say():
    """'Kids are talking by the door' said in anger: the words read neutral with a little surprise; the state
    follows the voice, and the words' stray surprise is not mixed in as if it were a reading."""
    from fusion.fuse import FusionWeights, fuse
    from fusion.state import ModalityView

    words = {"anger": 0.02, "disgust": 0.01, "fear": 0.02, "joy": 0.05, "neutral": 0.7, "sadness": 0.02,
             "surprise": 0.18}
    voice = {"anger": 0.32, "disgust": 0.12, "fear": 0.1, "joy": 0.1, "neutral": 0.14, "sadness": 0.07,
             "surprise": 0.15}
    views = [ModalityView("text", words, 0.0, 0.0, 0.4, 0.0, 1.0),
             ModalityView("voice", voice, -0.4, 0.6, 0.3, 0.0, 1.0)]
    state = fuse(views)  # the committed weights: what runs live
    assert state.label == "anger"
    assert state.probs["surprise"] < 0.2 and state.probs["neutral"] < 0.3
    alone = fuse(views[:1], FusionWeights(), enabled=("text",))
    assert alone.label == "neutral"  # with nothing else to go on, neutral words do read neutral


def test_a_higher_abstention_power_leaves_the_voice_more_of_its_say():
    """Neutral words' say shrinks by (1 - p_neutral) ** power: with a higher power the fused state sits closer to
    the voice alone, while emotional words keep theirs, and alone the words still read as they are."""
    from dataclasses import replace

    # words that lean to surprise but are half neutral ("oh, they moved the door"): the power decides their say
    halfway = {**lean("surprise", 0.45), "neutral": 0.4}
    halfway = {k: v / sum(halfway.values()) for k, v in halfway.items()}
    words = TextEmotion("oh, they moved the door", halfway, 0.0, 0.0, 0.0, 1.0, 0.6, "test")
    flat = lean("sadness", 0.3)  # a voice that is right but unsure, as acted speech often reads
    voice = ProsodyCues(0.0, 1.0, 0.3, {}, {}, flat, *valence_arousal_from_probs(flat))
    views = [view_from_cue(words, 1.0), view_from_cue(voice, 1.0)]
    plain, sharp = EQUAL, replace(EQUAL, neutral_abstention_power=4.0)
    alone = fuse(views[1:], EQUAL, t_s=1.0).probs["sadness"]
    assert fuse(views, plain, t_s=1.0).probs["sadness"] < fuse(views, sharp, t_s=1.0).probs["sadness"] <= alone + 1e-9
    angry = [view_from_cue(text_cue("anger", 1.0, p=0.9), 1.0), view_from_cue(voice, 1.0)]
    assert fuse(angry, sharp, t_s=1.0).label == "anger"
    assert fuse(views[:1], sharp, enabled=("text",), t_s=1.0).label == "surprise"


@pytest.mark.parametrize("power", [-1, 21, "4", True])
def test_a_bad_abstention_power_is_refused_with_one_line(tmp_path, power):
    from fusion.fuse import WEIGHTS_PATH

    document = json.loads(WEIGHTS_PATH.read_text())
    document["neutral_abstention_power"] = power
    path = tmp_path / "weights.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match="neutral_abstention_power") as caught:
        load_weights(path)
    assert "\n" not in str(caught.value)


def test_words_that_read_neutral_leave_the_voice_its_whole_say():
    # RAVDESS: the same neutral sentence in every emotion; with any say left, the words tipped the voice's close
    # calls (fused 0.492 against the voice alone 0.526 held out by actor)
    words = TextEmotion("kids are talking by the door", lean("neutral", 0.75), 0.0, 0.0, 0.0, 1.0, 0.6, "test")
    flat = lean("sadness", 0.3)
    voice = ProsodyCues(0.0, 1.0, 0.3, {}, {}, flat, *valence_arousal_from_probs(flat))
    both = fuse([view_from_cue(words, 1.0), view_from_cue(voice, 1.0)], EQUAL, t_s=1.0)
    alone = fuse([view_from_cue(voice, 1.0)], EQUAL, t_s=1.0)
    assert both.probs == pytest.approx(alone.probs) and both.label == "sadness"
    assert both.valence == pytest.approx(alone.valence) and both.arousal == pytest.approx(alone.arousal)
