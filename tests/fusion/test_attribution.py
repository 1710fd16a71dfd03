"""Attribution: which modality moved the state, in words a person understands."""

from __future__ import annotations

from basics.labels import LABELS, valence_arousal_from_probs
from fusion.attribution import describe, prosody_changes
from fusion.fuse import FusionWeights, fuse, view_from_cue
from perception.cues import FaceCues, ProsodyCues, TextEmotion


def lean(label: str, p: float = 0.8) -> dict[str, float]:
    rest = (1.0 - p) / (len(LABELS) - 1)
    return {other: (p if other == label else rest) for other in LABELS}


def test_face_reading_in_words_with_its_own_explanation():
    probs = lean("joy")
    v, a = valence_arousal_from_probs(probs)
    cue = FaceCues(0.0, 0.2, 0.9, probs, v, a, explanation="smiling, cheeks raised")
    assert view_from_cue(cue).explanation == "your face looks happy (smiling, cheeks raised)"
    assert describe("face", lean("sadness", 0.3)) == "your face looks a bit sad"  # hedged when unsure


def test_voice_changes_against_the_speakers_usual():
    assert prosody_changes({"energy_db_mean": 1.8, "speech_rate_sps": 1.3, "pitch_hz_mean": 0.2}) == \
        "louder and faster than your usual"
    assert prosody_changes({"energy_db_mean": -2.0}) == "quieter than your usual"
    assert prosody_changes({"energy_db_mean": 0.3, "pitch_hz_mean": float("nan")}) == ""
    probs = lean("neutral")
    cue = ProsodyCues(0.0, 2.0, 0.6, {}, {"energy_db_mean": 1.8, "speech_rate_sps": 1.3}, probs, 0.0, 0.0)
    assert view_from_cue(cue).explanation == "your voice got louder and faster than your usual"
    angry = ProsodyCues(0.0, 2.0, 0.6, {}, {"energy_db_mean": 2.1}, lean("anger"), -0.6, 0.7)
    assert view_from_cue(angry).explanation == "your voice got louder than your usual and sounds angry"
    flat = ProsodyCues(0.0, 2.0, 0.6, {}, {}, lean("sadness"), -0.7, -0.4)
    assert view_from_cue(flat).explanation == "your voice sounds low"


def test_why_names_what_moved_the_state_most_first():
    words = lean("fear")
    v, a = valence_arousal_from_probs(words)
    text = TextEmotion("what if it goes wrong", words, v, a, 0.0, 1.0, 0.9, "test")
    calm = lean("neutral")
    face = FaceCues(0.8, 1.0, 0.4, calm, 0.0, 0.0)
    state = fuse([view_from_cue(text, 1.0), view_from_cue(face, 1.0)], FusionWeights(), t_s=1.0)
    assert state.why == "your words sound worried, while your face looks calm"
    faint = FaceCues(0.8, 1.0, 0.05, calm, 0.0, 0.0)
    state = fuse([view_from_cue(text, 1.0), view_from_cue(faint, 1.0)], FusionWeights(), t_s=1.0)
    assert state.why == "your words sound worried"  # a modality that barely counted is not named


def test_why_names_the_readings_that_carried_the_label_not_every_reading():
    def cue(kind, label, p, confidence, **extra):
        probs = lean(label, p)
        v, a = valence_arousal_from_probs(probs)
        if kind == "text":
            return TextEmotion("words", probs, v, a, 0.0, 1.0, confidence, "test")
        if kind == "voice":
            return ProsodyCues(0.0, 1.0, confidence, {}, extra.get("z", {}), probs, v, a)
        return FaceCues(0.8, 1.0, confidence, probs, v, a, explanation=extra.get("explanation", ""))

    cues = [cue("text", "joy", 0.7, 0.5), cue("face", "joy", 0.9, 0.8, explanation="joy: smiling"),
            cue("voice", "neutral", 0.5, 0.3, z={"pitch_hz_mean": 1.4})]
    state = fuse([view_from_cue(c, 1.0) for c in cues], FusionWeights(), t_s=1.0)
    assert state.label == "joy"
    assert state.why == "your face looks happy (smiling) and your words sound happy"
    assert "voice" not in state.why  # it pointed elsewhere, and two readings already carried the label


def test_the_face_paths_own_label_prefix_is_not_repeated():
    probs = lean("sadness")
    v, a = valence_arousal_from_probs(probs)
    cue = FaceCues(0.0, 0.2, 0.7, probs, v, a, explanation="sadness: lip corners pulled down, inner brows raised")
    assert view_from_cue(cue).explanation == \
        "your face looks sad (lip corners pulled down, inner brows raised)"
