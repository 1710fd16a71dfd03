"""What the responder produces: the Appraisal (EBG stage 1) and the Reply."""

from __future__ import annotations

from dataclasses import dataclass, field

NEEDS: tuple[str, ...] = ("to_be_heard", "reassurance", "information", "celebration")
CAUSE_SPEAKERS: tuple[str, ...] = ("user", "agent", "other")
ROUTES: tuple[str, ...] = ("generated", "fallback", "crisis")
SAFETY_LEVELS: tuple[str, ...] = ("none", "concern", "crisis")  # see agent/safety_level.py


@dataclass(frozen=True)
class Appraisal:
    emotion: str  # one of basics.labels.LABELS
    intensity: float  # 0-1
    cause: str  # a span quoted verbatim from the turn `cause_turn` ("" when none could be found)
    need: str  # one of NEEDS
    safety_flags: tuple[str, ...] = ()  # e.g. ("suicide",), ("medical_emergency",)
    source: str = "code"  # "code" or "llm": who computed it
    safety_level: str = "none"  # one of SAFETY_LEVELS: crisis (fixed message), concern (reply + check-in), none
    safety_reason: str = ""  # why, in words: the rule phrases or the detector's probability and the words it read
    cause_turn: int = 0  # where the cause was said: 0 the person's current message, -k the turn k back
    cause_speaker: str = "user"  # who said it, one of CAUSE_SPEAKERS: the person, the agent, someone else


@dataclass(frozen=True)
class Reply:
    text: str
    appraisal: Appraisal
    route: str  # one of ROUTES
    backend: str
    model: str
    latency_s: float
    first_token_s: float | None = None  # the first words on screen: the opener where there is one, else the model's
    status: tuple[str, ...] = field(default_factory=tuple)  # what failed on the way, in words ("LLM timed out")
