"""Temporal smoothing: a modality's recent cues become one view, each weighted by its confidence and its age.

A cue's weight decays as exp(-age / tau). Each modality has its own tau because each speaks at its own pace:
face frames arrive ~5 times a second and are noisy one by one; voice and words come once per utterance/turn
and stay meaningful for a while after. Words and voice are turns, not samples of one steady signal: what the person
says now replaces what they said before ("I got the job... but my dog died"), so the earlier turns of those two
count only SUPERSEDED_SHARE as much and the newest turn leads at once, however confident the one before it was.
The state still moves gradually rather than jumping frame to frame.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from basics.labels import LABELS
from fusion.attribution import describe
from fusion.state import ModalityView

TIME_CONSTANTS_S: dict[str, float] = {
    "text": 20.0,  # a turn's words colour the next ~20 s; a new turn ~15 s later already counts twice as much
    "voice": 8.0,  # one utterance's tone
    # ~5 frames at 5 fps: smooths blinks and misdetections, follows a smile within a second or two (perception/face.py
    # already smooths its video readings with 0.6 s, so this one need not be long)
    "face": 1.0,
}
# How much a turn counts once a newer turn of the same modality exists (context, not the current reading).
SUPERSEDED_SHARE: dict[str, float] = {"text": 0.2, "voice": 0.2, "face": 1.0}
# Cues older than this many time constants weigh < 1% and are dropped from the buffer.
MAX_AGE_IN_TAUS = 5.0


@dataclass(frozen=True)
class Reading:
    """One cue as fusion sees it: already checked finite, probabilities over exactly LABELS."""

    modality: str
    t_s: float  # when the cue ended (its evidence is freshest there)
    confidence: float
    probs: dict[str, float]
    valence: float
    arousal: float
    detail: str = ""  # raw evidence for explanation: "louder and faster than your usual", "brows lowered"


def age_decay(age_s: float, tau_s: float) -> float:
    """exp(-age/tau); a cue from the future (clock skew between sources) counts as brand new."""
    return math.exp(-max(0.0, age_s) / tau_s)


def is_stale(reading: Reading, now_s: float, tau_s: float) -> bool:
    return now_s - reading.t_s > MAX_AGE_IN_TAUS * tau_s


def smoothed_view(readings: Sequence[Reading], now_s: float, tau_s: float) -> ModalityView | None:
    """The modality's view at `now_s`: the decay-and-confidence weighted mean of its readings.

    Its confidence is that of its strongest fresh evidence (max of confidence x decay), not a sum: fifty frames of
    the same face are not fifty independent witnesses. None when nothing is left with any weight.
    """
    if not readings:
        return None
    newest = max(readings, key=lambda r: r.t_s)
    superseded = SUPERSEDED_SHARE.get(newest.modality, 1.0)
    ks = [r.confidence * age_decay(now_s - r.t_s, tau_s) * (1.0 if r is newest else superseded) for r in readings]
    total = sum(ks)
    if total <= 0:
        return None
    probs = {label: sum(k * r.probs[label] for k, r in zip(ks, readings)) / total for label in LABELS}
    valence = sum(k * r.valence for k, r in zip(ks, readings)) / total
    arousal = sum(k * r.arousal for k, r in zip(ks, readings)) / total
    # The detail of the strongest evidence explains the view; an older cue's detail could contradict the newest.
    strongest = max(zip(ks, readings), key=lambda pair: pair[0])[1]
    detail = strongest.detail
    modality = newest.modality
    return ModalityView(
        modality=modality,
        probs=probs,
        valence=valence,
        arousal=arousal,
        confidence=max(ks),
        weight=0.0,  # set by fusion
        t_s=newest.t_s,
        explanation=describe(modality, probs, detail),
    )


def tau_for(modality: str, time_constants_s: Mapping[str, float] | None = None) -> float:
    table = TIME_CONSTANTS_S if time_constants_s is None else {**TIME_CONSTANTS_S, **time_constants_s}
    return table[modality]
