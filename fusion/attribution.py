"""Attribution: what each modality is saying, and why the state is what it is, in words a person understands."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from basics.labels import LABELS, top_label
from fusion.modalities import REGISTRY
from fusion.state import ModalityView

# Each modality has its own verb and its own words: a face "looks" happy, a voice "sounds" cheerful.
SUBJECT_VERB: dict[str, str] = {m.name: f"{m.subject} {m.verb}" for m in REGISTRY}
LABEL_WORDS: dict[str, dict[str, str]] = {
    "text": {"anger": "annoyed", "disgust": "disgusted", "fear": "worried", "joy": "happy", "neutral": "neutral",
             "sadness": "sad", "surprise": "surprised"},
    "voice": {"anger": "angry", "disgust": "disgusted", "fear": "anxious", "joy": "cheerful", "neutral": "steady",
              "sadness": "low", "surprise": "surprised"},
    "face": {"anger": "angry", "disgust": "disgusted", "fear": "afraid", "joy": "happy", "neutral": "calm",
             "sadness": "sad", "surprise": "surprised"},
}
# Below this top probability the reading is hedged ("a bit sad"): the modality leans, it does not say.
HEDGE_BELOW_PROB = 0.45

# Prosody z-scores against the speaker's own running baseline; |z| >= this counts as a change worth naming.
NOTABLE_Z = 1.0
# z-score key -> (word when above the usual, word when below), in the order they are spoken.
PROSODY_CHANGE_WORDS: tuple[tuple[str, str, str], ...] = (
    ("pitch_hz_mean", "higher", "lower"),
    ("energy_db_mean", "louder", "quieter"),
    ("speech_rate_sps", "faster", "slower"),
    ("pitch_hz_sd", "more animated", "flatter"),
    ("pause_ratio", "more hesitant", "more fluent"),
)
# Only the strongest changes are named; a list of five reads like a lab report.
MAX_CHANGES_NAMED = 3


def join_words(words: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    words = [w for w in words if w]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def label_word(modality: str, probs: Mapping[str, float]) -> str:
    label = top_label(probs)
    word = LABEL_WORDS.get(modality, LABEL_WORDS["face"])[label]
    if label != "neutral" and probs.get(label, 0.0) < HEDGE_BELOW_PROB:
        return f"a bit {word}"
    return word


def prosody_changes(z_scores: Mapping[str, float]) -> str:
    """'louder and faster than your usual', or '' when nothing stands out from the speaker's baseline."""
    notable = []
    for key, above, below in PROSODY_CHANGE_WORDS:
        z = z_scores.get(key)
        if z is None or not math.isfinite(z) or abs(z) < NOTABLE_Z:
            continue
        notable.append((abs(z), above if z > 0 else below))
    if not notable:
        return ""
    # The strongest changes, spoken in the table's order (pitch, loudness, rate) so phrases read naturally.
    strongest = {word for _, word in sorted(notable, reverse=True)[:MAX_CHANGES_NAMED]}
    ordered = [word for _, word in notable if word in strongest]
    return f"{join_words(ordered)} than your usual"


def cue_detail(cue: object) -> str:
    """The raw evidence a cue carries for explanation: prosody changes, or the face's own description."""
    z_scores = getattr(cue, "z_scores", None)
    if isinstance(z_scores, Mapping):
        return prosody_changes(z_scores)
    explanation = getattr(cue, "explanation", "")
    if not isinstance(explanation, str):
        return ""
    # perception/face.py writes "joy: smiling, cheeks raised"; the label is said by fusion in its own words.
    head, colon, rest = explanation.partition(":")
    if colon and head.strip() in LABELS:
        explanation = rest
    return explanation.strip()


def describe(modality: str, probs: Mapping[str, float], detail: str = "") -> str:
    """One modality's reading: 'your face looks sad (brows lowered)', 'your voice got louder than your usual'."""
    word = label_word(modality, probs)
    if modality == "voice" and detail:
        neutral_reading = top_label(probs) == "neutral"
        changed = f"your voice got {detail}"
        return changed if neutral_reading else f"{changed} and sounds {word}"
    phrase = f"{SUBJECT_VERB.get(modality, 'the ' + modality + ' reads')} {word}"
    # A calm face's detail is at best "relaxed face": it repeats the word, so it is left out.
    return f"{phrase} ({detail})" if detail and top_label(probs) != "neutral" else phrase


def short_reading(view: ModalityView) -> str:
    """The reading without its detail, for contrasts: 'your face looks sad'."""
    subject = SUBJECT_VERB.get(view.modality, f"the {view.modality} reads")
    return f"{subject} {label_word(view.modality, view.probs)}"


# A modality whose share of the state is below this is not named in `why`: it barely moved the state.
MIN_SHARE_NAMED = 0.15
# A reading "points at" the fused label when it gives it at least this probability (or it is its own top label).
MIN_PROB_POINTING = 0.3
MAX_READINGS_NAMED = 2
# A reading pointing elsewhere is named as a contrast only when it counted this much.
MIN_SHARE_CONTRAST = 0.25
NOTHING_TO_GO_ON = "no signal to go on yet"


def explain(views: Sequence[ModalityView], incongruence: str = "", label: str | None = None) -> str:
    """Why the state is what it is: the disagreement first when there is one; else the readings that carried the
    fused `label` most (share x probability of that label), at most two, and when only one did, a heavy reading
    that points elsewhere as a contrast ("your words sound worried, while your face looks calm")."""
    if incongruence:
        return incongruence
    named = [v for v in views if v.weight >= MIN_SHARE_NAMED]
    if not named:
        return NOTHING_TO_GO_ON
    if label is None:
        return join_words([v.explanation or short_reading(v)
                           for v in sorted(named, key=lambda v: v.weight, reverse=True)[:MAX_READINGS_NAMED]])
    pointing = sorted((v for v in named if top_label(v.probs) == label or v.probs.get(label, 0.0) >= MIN_PROB_POINTING),
                      key=lambda v: v.weight * v.probs.get(label, 0.0), reverse=True)
    elsewhere = sorted((v for v in named if v not in pointing and v.weight >= MIN_SHARE_CONTRAST),
                       key=lambda v: v.weight, reverse=True)
    if not pointing:
        return max(named, key=lambda v: v.weight).explanation or short_reading(max(named, key=lambda v: v.weight))
    phrases = [v.explanation or short_reading(v) for v in pointing[:MAX_READINGS_NAMED]]
    if len(phrases) == 1 and elsewhere:
        return f"{phrases[0]}, while {elsewhere[0].explanation or short_reading(elsewhere[0])}"
    return join_words(phrases)
