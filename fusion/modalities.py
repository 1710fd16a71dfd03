"""The modalities, once: what each is called, which cue carries it, which consent toggle gates it, and how the
ablation names it. Fusion, the live session, replay, the ablation and the panel read this table instead of keeping
their own; adding a modality starts here.

It lives in fusion (not ui) because fusion is the lowest layer that knows modalities as such: perception only knows
cues, and everything above imports fusion.
"""

from __future__ import annotations

from dataclasses import dataclass

from perception.cues import FaceCues, ProsodyCues, TextEmotion


@dataclass(frozen=True)
class Modality:
    name: str  # fusion's key, the timeline event's kind, replay's --without name
    cue_type: type[TextEmotion] | type[ProsodyCues] | type[FaceCues]
    noun: str  # what the panel calls it: "your words", "your voice"
    verb: str  # how it is read: words "sound", a face "looks"
    consent: str | None  # the toggle that gates its input (None: typed words need no device)
    condition: str  # the ablation's name for it alone ("audio" is the voice: how it was said)
    nonverbal: bool  # face and voice can clash with the words (fusion/incongruence.py)
    model_part: str  # the part of ui's load_models that reads it ("prosody" for the voice)

    @property
    def subject(self) -> str:
        return f"your {self.noun}"


REGISTRY: tuple[Modality, ...] = (
    Modality("text", TextEmotion, noun="words", verb="sound", consent=None, condition="text", nonverbal=False,
             model_part="text"),
    Modality("voice", ProsodyCues, noun="voice", verb="sounds", consent="microphone", condition="audio",
             nonverbal=True, model_part="prosody"),
    Modality("face", FaceCues, noun="face", verb="looks", consent="camera", condition="face", nonverbal=True,
             model_part="face"),
)
NAMES: tuple[str, ...] = tuple(m.name for m in REGISTRY)
BY_NAME: dict[str, Modality] = {m.name: m for m in REGISTRY}


def modality(name: str) -> Modality:
    """The registry's entry for NAME; ValueError naming the known ones otherwise."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown modality {name!r}; choose from {list(NAMES)}") from None


def gated_by(toggle: str) -> tuple[str, ...]:
    """The modalities a consent toggle gates ("camera" -> ("face",)); none for "store" and "remote"."""
    return tuple(m.name for m in REGISTRY if m.consent == toggle)
