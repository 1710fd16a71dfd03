"""The label space every layer shares: the Ekman six plus neutral, where each sits on the circumplex, and the helpers
on probability dicts keyed by label name (perception writes them, fusion weighs them, the agent and ui read them)."""

from __future__ import annotations

import math
from collections.abc import Mapping

LABELS: tuple[str, ...] = ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")

# Where each label sits on the circumplex (valence, arousal); used to derive valence/arousal from
# probabilities when a model gives only classes. Values follow Russell's circumplex placements.
LABEL_VALENCE_AROUSAL: dict[str, tuple[float, float]] = {
    "anger": (-0.6, 0.7),
    "disgust": (-0.6, 0.3),
    "fear": (-0.7, 0.6),
    "joy": (0.8, 0.5),
    "neutral": (0.0, 0.0),
    "sadness": (-0.7, -0.4),
    "surprise": (0.2, 0.7),
}


def uniform_probs() -> dict[str, float]:
    return {label: 1.0 / len(LABELS) for label in LABELS}


def normalise_probs(probs: Mapping[str, float]) -> dict[str, float]:
    """Probabilities over exactly LABELS, summing to 1; NaN/negative entries count as 0; all-zero gives uniform."""
    clean = {}
    for label in LABELS:
        value = float(probs.get(label, 0.0))
        clean[label] = value if math.isfinite(value) and value > 0 else 0.0
    total = sum(clean.values())
    if total <= 0:
        return uniform_probs()
    return {label: value / total for label, value in clean.items()}


def valence_arousal_from_probs(probs: Mapping[str, float]) -> tuple[float, float]:
    valence = sum(probs.get(label, 0.0) * va[0] for label, va in LABEL_VALENCE_AROUSAL.items())
    arousal = sum(probs.get(label, 0.0) * va[1] for label, va in LABEL_VALENCE_AROUSAL.items())
    return valence, arousal


def top_label(probs: Mapping[str, float]) -> str:
    return max(LABELS, key=lambda label: probs.get(label, 0.0))
