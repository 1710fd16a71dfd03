"""Incongruence: the words say one thing, the face or voice another ("I'm fine" with a sad face).

Only a clash of polarity counts, and only between confident readings: fine or happy words with a clearly negative
face or voice ("I'm fine", said with a sad face), or negative words with a clearly happy face or voice ("my dog
died", said smiling). Neutral words with a smile are no clash: that is a person at ease.

In a clash the positive side is taken as the display and the negative side as the feeling: people mask distress
with "I'm fine" or a polite smile far more often than they fake distress. Fusion therefore discounts the masking
side (MASKING_DISCOUNT in fuse.py), so the state follows the negative reading and the agent does not cheer someone
who is smiling through bad news.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from basics.labels import top_label
from fusion.attribution import join_words, short_reading
from fusion.modalities import REGISTRY
from fusion.state import ModalityView

NONVERBAL: tuple[str, ...] = tuple(m.name for m in REGISTRY if m.nonverbal)
NEGATIVE_LABELS = frozenset({"anger", "disgust", "fear", "sadness"})

# Effective confidence (after age decay) each side needs before a disagreement counts. Perception's confidences
# are 1 - normalised entropy, a strict scale: a 0.6 top probability with the rest spread evenly is only ~0.3.
MIN_CONFIDENCE = 0.2
# A reading is clearly negative (or positive) when its top label is, with at least this probability...
MIN_TOP_PROB = 0.45
# ...or when its valence is at least this far from 0 (0.35 flagged 15% of RAVDESS's neutral-acted clips against
# their neutral words, 0.45 halves that while keeping the flags on fear/anger/disgust; see fit_weights' check).
CLEAR_VALENCE = 0.45
# "Not negative" words: top label not negative and valence above this.
NOT_NEGATIVE_VALENCE = -0.15
# The two sides' valences must also be this far apart.
MIN_VALENCE_GAP = 0.3


@dataclass(frozen=True)
class Incongruence:
    phrase: str  # "your words sound neutral, but your face looks sad"
    masking: frozenset[str]  # the modalities read as the display (the positive side), discounted by fusion


def _clearly_negative(view: ModalityView) -> bool:
    label = top_label(view.probs)
    return (label in NEGATIVE_LABELS and view.probs[label] >= MIN_TOP_PROB) or view.valence <= -CLEAR_VALENCE


def _clearly_positive(view: ModalityView) -> bool:
    label = top_label(view.probs)
    return (label == "joy" and view.probs[label] >= MIN_TOP_PROB) or view.valence >= CLEAR_VALENCE


def _not_negative(view: ModalityView) -> bool:
    return top_label(view.probs) not in NEGATIVE_LABELS and view.valence > NOT_NEGATIVE_VALENCE


def clash(words: ModalityView, other: ModalityView) -> str | None:
    """Which side masks: "words" (fine words, negative face/voice), "other" (negative words, happy face/voice),
    or None when they do not clash."""
    if min(words.confidence, other.confidence) < MIN_CONFIDENCE:
        return None
    if abs(words.valence - other.valence) < MIN_VALENCE_GAP:
        return None
    if _clearly_negative(other) and _not_negative(words):
        return "words"
    if _clearly_negative(words) and _clearly_positive(other):
        return "other"
    return None


def find_incongruence(views: Sequence[ModalityView]) -> Incongruence | None:
    """None when words and face/voice agree (or one side is missing); else the clash in words and who masks."""
    words = next((v for v in views if v.modality == "text"), None)
    if words is None:
        return None
    against, masking = [], set()
    for view in views:
        if view.modality not in NONVERBAL:
            continue
        side = clash(words, view)
        if side is not None:
            against.append(view)
            masking.add("text" if side == "words" else view.modality)
    if not against:
        return None
    phrase = f"{short_reading(words)}, but {join_words([short_reading(v) for v in against])}"
    return Incongruence(phrase, frozenset(masking))
