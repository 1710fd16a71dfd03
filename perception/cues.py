"""The cue contracts: small frozen dataclasses that flow from perception to fusion.

Every cue carries `t_start_s`, `t_end_s` and `confidence` (0-1). Probabilities are always a dict keyed by
label name over basics.labels.LABELS (the Ekman six plus neutral); valence and arousal are in [-1, 1].
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Word:
    text: str
    t_start_s: float
    t_end_s: float
    probability: float


@dataclass(frozen=True)
class Transcript:
    """What was said in one utterance."""

    text: str
    words: tuple[Word, ...]
    language: str
    t_start_s: float
    t_end_s: float
    confidence: float


@dataclass(frozen=True)
class TextEmotion:
    """The emotion in the words of one utterance."""

    text: str
    probs: dict[str, float]
    valence: float
    arousal: float
    t_start_s: float
    t_end_s: float
    confidence: float
    model: str


@dataclass(frozen=True)
class ProsodyCues:
    """How something was said: acoustic features, their z-scores against the speaker's running baseline,
    and the prosody model's reading of them."""

    t_start_s: float
    t_end_s: float
    confidence: float
    features: dict[str, float]  # pitch_hz_mean, pitch_hz_sd, pitch_hz_range, energy_db_mean, speech_rate_sps, ...
    z_scores: dict[str, float]  # same keys, against this speaker's running baseline in the session
    probs: dict[str, float]
    valence: float
    arousal: float
    reason: str = ""  # why confidence is 0 (silence, too short, NaN samples), else empty


@dataclass(frozen=True)
class FaceCues:
    """The face in one frame (or a smoothed window of frames)."""

    t_start_s: float
    t_end_s: float
    confidence: float  # 0 when no face was found; `reason` then says why
    probs: dict[str, float]
    valence: float
    arousal: float
    blendshapes: dict[str, float] = field(default_factory=dict)  # raw mediapipe scores, kept for explanation
    action_units: dict[str, float] = field(default_factory=dict)  # smile, brow_lowerer, ... in [0, 1]
    face_box: tuple[int, int, int, int] | None = None  # x, y, width, height in pixels
    faces_seen: int = 0
    reason: str = ""
    explanation: str = ""  # "brows lowered, lips pressed"


def as_json(value: Any) -> Any:
    """A cue (or a tree of them) as plain JSON-ready values, non-finite floats as None."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: as_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): as_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_json(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return as_json(value.item())
    return value
