"""Confidence-weighted late fusion of the modalities into one EmotionState.

Each label's fused probability is a convex mix of the modalities' probabilities for that label, mixed by
confidence x per-class reliability (fitted on dev data by training/fit_fusion_weights.py): the face counts most for joy
and
surprise when it is the one that recognises them best, the words for what words carry. Mixing label by label (not
one weight per modality) keeps a modality from being trusted on classes it cannot tell apart.

When the words and the face/voice clash in polarity (fusion/incongruence.py), the state is flagged `incongruent` and
the masking side (fine words over a sad face, a smile over bad news) counts less.

`fuse()` is the pure function (views in, state out); `FusionTracker` keeps a session's recent cues, smooths them in
time, and enforces the modality switches (consent, ablation): a switched-off modality's buffered cues are purged.
"""

from __future__ import annotations

import functools
import json
import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from basics.labels import LABELS, normalise_probs, top_label
from fusion.attribution import NOTHING_TO_GO_ON, cue_detail, explain
from fusion.incongruence import find_incongruence
from fusion.modalities import REGISTRY
from fusion.smoothing import Reading, is_stale, smoothed_view, tau_for
from fusion.state import MODALITIES, EmotionState, ModalityView
from perception.cues import FaceCues, ProsodyCues, TextEmotion

Cue = TextEmotion | ProsodyCues | FaceCues
CUE_MODALITY: dict[type, str] = {m.cue_type: m.name for m in REGISTRY}

WEIGHTS_PATH = Path(__file__).parent / "weights" / "fusion_weights.json"
WEIGHTS_FORMAT = "empathic-fusion-weights/1"
# With nothing fitted, every modality is trusted alike on every class: equal reliability, no calibration.
DEFAULT_RELIABILITY = 0.5
# Keep every modality in play on every class: a 0 fitted from a small dev set should not silence it for good.
MIN_RELIABILITY = 0.05
# How much a masking reading still counts when words and face/voice clash (see fusion/incongruence.py). A design
# choice, not fitted: no dev set labels masked feelings.
MASKING_DISCOUNT = 0.3
# Words that read neutral ("Kids are talking by the door") say nothing about how the person feels: the emotion may
# be all in the voice or the face. So when another modality is present, the words' say on every label shrinks by
# their own neutral probability: neutral words neither pull the state to neutral nor mix in the little they put on
# surprise or joy, while emotional words ("I'm furious") keep their full say. A neutral face or voice, by contrast,
# is itself an expression and keeps its say. Words whose top reading is neutral abstain altogether: with the fitted
# power alone, their stray "neutral" still tipped the voice's close calls on RAVDESS (fused 0.492 against the voice
# alone 0.526 held out by actor, p = 0.016).
NEUTRAL_ABSTAINS: frozenset[str] = frozenset({"text"})
# How sharply the other words (top reading not neutral) abstain: their say is multiplied by (1 - p_neutral) ** power.
# 1 is the plain proportion; the committed weights carry a power chosen by training/fit_fusion_weights.py, leave one
# actor out, on RAVDESS (now 1: there every sentence reads neutral first, so no power does better).
DEFAULT_NEUTRAL_ABSTENTION_POWER = 1.0
# Cap on readings buffered per modality (face at 5 fps for 5 x 1.5 s needs ~40).
MAX_READINGS_PER_MODALITY = 64


# ----------------------------------------------------------------------------------------------- weights


@dataclass(frozen=True)
class ModalityReliability:
    """How far one modality is trusted, fitted on its own dev set (or the equal default when it was not)."""

    per_class: dict[str, float]  # label -> reliability in (0, 1], e.g. that modality's dev F1 on the class
    valence: float  # how far its valence is trusted, (0, 1]
    arousal: float
    overall: float  # its evidence strength for the state's confidence, (0, 1]
    temperature: float = 1.0  # calibration: probs ** (1/T), renormalised; T > 1 softens an overconfident model
    fitted: bool = False


def default_reliability() -> ModalityReliability:
    return ModalityReliability(
        per_class={label: DEFAULT_RELIABILITY for label in LABELS},
        valence=DEFAULT_RELIABILITY,
        arousal=DEFAULT_RELIABILITY,
        overall=DEFAULT_RELIABILITY,
    )


@dataclass(frozen=True)
class FusionWeights:
    modalities: dict[str, ModalityReliability] = field(default_factory=dict)
    source: str = "default: equal reliability"
    neutral_abstention_power: float = DEFAULT_NEUTRAL_ABSTENTION_POWER

    def of(self, modality: str) -> ModalityReliability:
        return self.modalities.get(modality) or default_reliability()


def _unit_interval(value: object, where: str) -> float:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 <= value <= 1:
        raise ValueError(f"{where} must be a number in [0, 1], got {value!r}")
    return max(float(value), MIN_RELIABILITY)


def parse_weights(document: Mapping, source: str) -> FusionWeights:
    """The weights json as FusionWeights; ValueError naming the source and the field when malformed."""
    try:
        if document.get("format") != WEIGHTS_FORMAT:
            raise ValueError(f"format is {document.get('format')!r}, expected {WEIGHTS_FORMAT!r}")
        modalities = {}
        for modality, entry in document["modalities"].items():
            if modality not in MODALITIES:
                raise ValueError(f"unknown modality {modality!r}")
            per_class = entry["per_class_reliability"]
            if set(per_class) != set(LABELS):
                raise ValueError(f"{modality}.per_class_reliability must have exactly the labels {list(LABELS)}")
            temperature = entry.get("temperature", 1.0)
            if not isinstance(temperature, (int, float)) or not 0.05 <= temperature <= 20:
                raise ValueError(f"{modality}.temperature must be in [0.05, 20], got {temperature!r}")
            modalities[modality] = ModalityReliability(
                per_class={label: _unit_interval(per_class[label], f"{modality}.{label}") for label in LABELS},
                valence=_unit_interval(entry["valence_reliability"], f"{modality}.valence_reliability"),
                arousal=_unit_interval(entry["arousal_reliability"], f"{modality}.arousal_reliability"),
                overall=_unit_interval(entry["overall_reliability"], f"{modality}.overall_reliability"),
                temperature=float(temperature),
                fitted=entry.get("status") == "fitted",
            )
        power = document.get("neutral_abstention_power", DEFAULT_NEUTRAL_ABSTENTION_POWER)
        if isinstance(power, bool) or not isinstance(power, (int, float)) or not 0 <= power <= 20:
            raise ValueError(f"neutral_abstention_power must be in [0, 20], got {power!r}")
    except (KeyError, TypeError, AttributeError) as err:
        raise ValueError(f"{source}: malformed fusion weights ({type(err).__name__}: {err})") from None
    except ValueError as err:
        raise ValueError(f"{source}: malformed fusion weights ({err})") from None
    return FusionWeights(modalities=modalities, source=source, neutral_abstention_power=float(power))


def load_weights(path: str | Path | None = None) -> FusionWeights:
    """The committed weights (fusion/weights/fusion_weights.json) or another file; equal reliability if the
    committed file is absent. A file that exists but cannot be read raises ValueError with one line."""
    weights_path = Path(path) if path is not None else WEIGHTS_PATH
    if not weights_path.exists():
        if path is None:
            return FusionWeights()
        raise ValueError(f"{weights_path}: no such fusion weights file")
    try:
        document = json.loads(weights_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{weights_path}: cannot read fusion weights ({err})") from None
    if not isinstance(document, dict):
        raise ValueError(f"{weights_path}: malformed fusion weights (not a JSON object)")
    return parse_weights(document, str(weights_path))


@functools.lru_cache(maxsize=1)
def committed_weights() -> FusionWeights:
    """The committed weights, read once per process (fuse() runs several times a second in a live session)."""
    return load_weights()


# ------------------------------------------------------------------------------------------ cues -> readings


def modality_of(cue: object) -> str:
    for cue_type, modality in CUE_MODALITY.items():
        if isinstance(cue, cue_type):
            return modality
    raise TypeError(f"fusion takes TextEmotion, ProsodyCues or FaceCues, not {type(cue).__name__}")


def _finite(*values: float) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


def reading_from_cue(cue: Cue) -> Reading | None:
    """The cue in fusion's terms, or None when it must drop out: confidence 0 (no face, silence) or any NaN."""
    modality = modality_of(cue)
    probs = cue.probs if isinstance(cue.probs, Mapping) else {}
    if not _finite(cue.confidence, cue.valence, cue.arousal, cue.t_end_s) or cue.confidence <= 0:
        return None
    if not probs or not _finite(*probs.values()):
        return None
    return Reading(
        modality=modality,
        t_s=float(cue.t_end_s),
        confidence=min(1.0, float(cue.confidence)),
        probs=normalise_probs(probs),
        valence=max(-1.0, min(1.0, float(cue.valence))),
        arousal=max(-1.0, min(1.0, float(cue.arousal))),
        detail=cue_detail(cue),
    )


def view_from_cue(cue: Cue, now_s: float | None = None) -> ModalityView | None:
    """One cue as a view at `now_s` (default: the cue's own end), for one-shot fusion without a tracker."""
    reading = reading_from_cue(cue)
    if reading is None:
        return None
    return smoothed_view([reading], reading.t_s if now_s is None else now_s, tau_for(reading.modality))


# ------------------------------------------------------------------------------------------------ fusion


def calibrated(probs: Mapping[str, float], temperature: float) -> dict[str, float]:
    if temperature == 1.0:
        return dict(probs)
    powered = {label: max(probs[label], 1e-12) ** (1.0 / temperature) for label in LABELS}
    total = sum(powered.values())
    return {label: value / total for label, value in powered.items()}


def neutral_state(t_s: float, why: str) -> EmotionState:
    """No evidence at all: neutral, confidence 0."""
    probs = {label: 1.0 if label == "neutral" else 0.0 for label in LABELS}
    return EmotionState(t_s=t_s, probs=probs, valence=0.0, arousal=0.0, confidence=0.0, contributions=(),
                        incongruent=False, why=why)


def _usable(view: ModalityView, enabled: frozenset[str]) -> bool:
    return (view.modality in enabled and _finite(view.confidence, view.valence, view.arousal, *view.probs.values())
            and view.confidence > 0)


def fuse(
    views: Sequence[ModalityView | None],
    weights: FusionWeights | None = None,
    enabled: Iterable[str] = MODALITIES,
    t_s: float = 0.0,
) -> EmotionState:
    """The state from one view per modality (confidences already aged); None entries (dropped cues) are skipped.
    `weights` defaults to the committed fusion/weights/fusion_weights.json.

    Per label c: p(c) ~ sum_m a_m(c) p_m(c) with a_m(c) = conf_m r_m(c) / sum_m' conf_m' r_m'(c), so the mixing
    weights for each label sum to 1 across the modalities present (p_m calibrated by the modality's temperature).
    When words and face/voice clash, the masking side's conf_m is multiplied by MASKING_DISCOUNT. Valence and
    arousal mix the same way with the modality's valence/arousal reliability. Confidence is a noisy-OR of the
    evidence, 1 - prod_m (1 - conf_m overall_m): each modality adds evidence, so switching one off lowers it, and
    none gives 0.
    A modality not in `enabled` is ignored entirely, never just down-weighted.
    """
    weights = weights if weights is not None else committed_weights()
    enabled_set = frozenset(enabled)
    unknown = enabled_set - set(MODALITIES)
    if unknown:
        raise ValueError(f"unknown modalities {sorted(unknown)}; choose from {list(MODALITIES)}")
    active: dict[str, ModalityView] = {}
    for view in views:
        if view is not None and _usable(view, enabled_set):
            if view.modality in active:
                raise ValueError(f"fuse takes one view per modality; got two for {view.modality!r}")
            active[view.modality] = view
    if not active:
        reason = "every signal is switched off" if not enabled_set else NOTHING_TO_GO_ON
        return neutral_state(t_s, reason)

    reliability = {m: weights.of(m) for m in active}
    probs_of = {m: calibrated(normalise_probs(v.probs), reliability[m].temperature) for m, v in active.items()}
    incongruence = find_incongruence([active[m] for m in MODALITIES if m in active])
    # In a clash of words and face/voice, the masking side (a polite "I'm fine", a smile over bad news) counts less.
    masking = incongruence.masking if incongruence else frozenset()
    trust = {m: v.confidence * (MASKING_DISCOUNT if m in masking else 1.0) for m, v in active.items()}

    mass: dict[str, dict[str, float]] = {m: {} for m in active}  # a_m(c) * p_m(c): what each modality puts into label c
    def abstain(m: str) -> float:
        if m in NEUTRAL_ABSTAINS and len(active) > 1:
            if top_label(probs_of[m]) == "neutral":  # words that read neutral say nothing: no say at all
                return 0.0
            return max(0.0, 1.0 - probs_of[m]["neutral"]) ** weights.neutral_abstention_power
        return 1.0

    say = {m: abstain(m) for m in active}  # the same for every label and for valence/arousal
    for label in LABELS:
        support = {m: trust[m] * reliability[m].per_class[label] * say[m] for m in active}
        total_support = sum(support.values())
        for m in active:
            mass[m][label] = support[m] / total_support * probs_of[m][label] if total_support > 0 else 0.0
    total_mass = sum(sum(per_label.values()) for per_label in mass.values())
    if total_mass <= 0:  # every present modality abstained or had no trust: as if nothing were present
        return neutral_state(t_s, NOTHING_TO_GO_ON)
    probs = {label: sum(mass[m][label] for m in active) / total_mass for label in LABELS}
    share = {m: sum(mass[m].values()) / total_mass for m in active}

    def mixed(attribute: str) -> float:
        support = {m: trust[m] * getattr(reliability[m], attribute) * say[m] for m in active}
        total = sum(support.values())
        return sum(support[m] * getattr(active[m], attribute) for m in active) / total if total > 0 else 0.0

    # Evidence that contradicts itself is weaker evidence: the masking side's discount lowers the confidence too.
    confidence = 1.0 - math.prod(1.0 - trust[m] * reliability[m].overall for m in active)
    contributions = tuple(replace(active[m], weight=share[m]) for m in MODALITIES if m in active)
    label = max(LABELS, key=lambda c: probs[c])
    phrase = incongruence.phrase if incongruence else ""
    return EmotionState(
        t_s=t_s,
        probs=probs,
        valence=mixed("valence"),
        arousal=mixed("arousal"),
        confidence=confidence,
        contributions=contributions,
        incongruent=incongruence is not None,
        why=explain(contributions, phrase, label),
        incongruence=phrase,
    )


# ----------------------------------------------------------------------------------------------- tracker


class FusionTracker:
    """A session's fusion: buffers recent cues per modality, ages them, and fuses on demand.

    `update(cue)` buffers a cue (False when it drops out); `state(now_s)` gives the EmotionState at any time.
    `set_enabled(modality, False)` switches a modality off and purges what it buffered, so nothing it said before can
    reach the state again, even after it is switched back on.
    """

    def __init__(
        self,
        weights: FusionWeights | None = None,
        enabled: Iterable[str] = MODALITIES,
        time_constants_s: Mapping[str, float] | None = None,
    ) -> None:
        enabled = set(enabled)
        unknown = enabled - set(MODALITIES)
        if unknown:
            raise ValueError(f"unknown modalities {sorted(unknown)}; choose from {list(MODALITIES)}")
        self.weights = weights if weights is not None else committed_weights()
        self._taus = {m: tau_for(m, time_constants_s) for m in MODALITIES}
        self._readings: dict[str, deque[Reading]] = {m: deque(maxlen=MAX_READINGS_PER_MODALITY) for m in MODALITIES}
        self._enabled: set[str] = set(enabled)

    @property
    def enabled(self) -> frozenset[str]:
        return frozenset(self._enabled)

    def set_enabled(self, modality: str, on: bool) -> None:
        self._check(modality)
        if on:
            self._enabled.add(modality)
        else:
            self._enabled.discard(modality)
            self.purge(modality)  # consent revoked or ablated: what it said is gone, not just muted

    def purge(self, modality: str) -> None:
        """Forget what a modality buffered (it stays switched as it was)."""
        self._check(modality)
        self._readings[modality].clear()

    def update(self, cue: Cue) -> bool:
        """Buffer a cue; False when it was dropped (its modality is off, its confidence is 0, or it has a NaN)."""
        modality = modality_of(cue)
        if modality not in self._enabled:
            return False
        reading = reading_from_cue(cue)
        if reading is None:
            return False
        self._readings[modality].append(reading)
        return True

    def views(self, now_s: float) -> list[ModalityView]:
        views = []
        for modality in MODALITIES:
            if modality not in self._enabled:
                continue
            tau = self._taus[modality]
            fresh = [r for r in self._readings[modality] if not is_stale(r, now_s, tau)]
            self._readings[modality] = deque(fresh, maxlen=MAX_READINGS_PER_MODALITY)
            view = smoothed_view(fresh, now_s, tau)
            if view is not None:
                views.append(view)
        return views

    def state(self, now_s: float) -> EmotionState:
        return fuse(self.views(now_s), self.weights, self._enabled, t_s=now_s)

    def reset(self) -> None:
        for modality in MODALITIES:
            self.purge(modality)

    @staticmethod
    def _check(modality: str) -> None:
        if modality not in MODALITIES:
            raise ValueError(f"unknown modality {modality!r}; choose from {list(MODALITIES)}")

