"""The EmotionState contract: what fusion hands to the agent and the UI."""

from __future__ import annotations

from dataclasses import dataclass

from basics.labels import top_label
from fusion.modalities import NAMES

MODALITIES: tuple[str, ...] = NAMES  # the registry's order (fusion/modalities.py)


@dataclass(frozen=True)
class ModalityView:
    """One modality's reading at the time of the state, and how much it counted."""

    modality: str  # one of MODALITIES
    probs: dict[str, float]
    valence: float
    arousal: float
    confidence: float
    weight: float  # its share of the fused state, 0-1 (0 when switched off or absent)
    t_s: float  # time of the cue it came from
    explanation: str = ""  # this modality's reading in words: "your face looks sad (brows lowered)"


@dataclass(frozen=True)
class EmotionState:
    t_s: float
    probs: dict[str, float]
    valence: float
    arousal: float
    confidence: float
    contributions: tuple[ModalityView, ...]
    incongruent: bool
    why: str  # in words a person understands: "your face looks sad while your words sound fine"
    incongruence: str = ""  # when incongruent, in words: "your words sound neutral, but your face looks sad"

    @property
    def label(self) -> str:
        return top_label(self.probs)
