"""What flows through the live pipeline, typed: what comes in (frames, audio, utterances) and what the timeline
records (readings, states, transcripts, replies, consent changes).

A timeline event keeps its stored shape in one place, `to_dict()`: {"kind": ..., "t_s": ..., then its fields in
order}, which is what events.jsonl, the report, replay's diff and the UI read.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np

from agent.contracts import Reply
from basics.labels import top_label
from fusion.state import EmotionState
from perception.cues import FaceCues, ProsodyCues, TextEmotion, as_json

# --- in: what the browser or a file hands the session ------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    rgb: np.ndarray  # HxWx3 uint8
    t_s: float  # session time
    wait: bool = False  # a photo the person chose to send: wait for a busy analyzer rather than drop it


@dataclass(frozen=True)
class AudioChunk:
    samples_16k: np.ndarray  # mono float32 at 16 kHz
    t_s: float  # session time of its first sample


@dataclass(frozen=True)
class Utterance:
    """Speech that turn taking cut from the microphone stream: one turn's audio."""

    audio: np.ndarray  # mono float32 at 16 kHz, padded around the speech
    t_start_s: float
    t_end_s: float
    speech_ended_at: float  # wall time (perf_counter) the speech ended: the person's wait starts there


# --- out: the timeline ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEvent:
    kind: ClassVar[str]
    t_s: float

    def to_dict(self) -> dict[str, Any]:
        """The stored shape: kind, time rounded to the millisecond, then the fields in declaration order."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "t_s"}
        return {"kind": self.kind, "t_s": round(float(self.t_s), 3), **data}


@dataclass(frozen=True)
class ConsentEvent(TimelineEvent):
    kind: ClassVar[str] = "consent"
    name: str
    granted: bool


@dataclass(frozen=True)
class StateEvent(TimelineEvent):
    kind: ClassVar[str] = "state"
    label: str
    probs: dict[str, float]
    valence: float
    arousal: float
    confidence: float
    incongruent: bool
    why: str

    @classmethod
    def of(cls, state: EmotionState, t_s: float) -> StateEvent:
        return cls(t_s, state.label, state.probs, state.valence, state.arousal, state.confidence, state.incongruent,
                   state.why)


@dataclass(frozen=True)
class FaceEvent(TimelineEvent):
    kind: ClassVar[str] = "face"
    label: str | None  # None: no face in the frame
    confidence: float
    probs: dict[str, float]
    valence: float
    arousal: float
    reason: str

    @classmethod
    def of(cls, cues: FaceCues, t_s: float) -> FaceEvent:
        return cls(t_s, top_label(cues.probs) if cues.confidence > 0 else None, cues.confidence, cues.probs,
                   cues.valence, cues.arousal, cues.reason)


@dataclass(frozen=True)
class VoiceEvent(TimelineEvent):
    kind: ClassVar[str] = "voice"
    label: str
    confidence: float
    probs: dict[str, float]
    valence: float
    arousal: float

    @classmethod
    def of(cls, prosody: ProsodyCues, t_s: float) -> VoiceEvent:
        return cls(t_s, top_label(prosody.probs), prosody.confidence, prosody.probs, prosody.valence,
                   prosody.arousal)


@dataclass(frozen=True)
class TextEvent(TimelineEvent):
    kind: ClassVar[str] = "text"
    label: str
    confidence: float
    probs: dict[str, float]
    valence: float
    arousal: float
    source: str  # "text", "voice", "upload"
    text: str  # the words too: a typed turn has no transcript event

    @classmethod
    def of(cls, reading: TextEmotion, t_s: float, source: str, text: str) -> TextEvent:
        return cls(t_s, top_label(reading.probs), reading.confidence, reading.probs, reading.valence,
                   reading.arousal, source, text)


@dataclass(frozen=True)
class TranscriptEvent(TimelineEvent):
    kind: ClassVar[str] = "transcript"
    text: str
    t_start_s: float
    t_end_s: float


@dataclass(frozen=True)
class ReplyEvent(TimelineEvent):
    kind: ClassVar[str] = "reply"
    text: str
    route: str
    backend: str
    model: str
    latency_s: float
    appraisal: dict[str, Any]
    status: tuple[str, ...]

    @classmethod
    def of(cls, reply: Reply, t_s: float) -> ReplyEvent:
        return cls(t_s, reply.text, reply.route, reply.backend, reply.model, reply.latency_s,
                   as_json(reply.appraisal), tuple(reply.status))

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "status": list(self.status)}



@dataclass(frozen=True)
class Words:
    """What the person said or typed, to be read for emotion and answered."""

    source: str  # "text", "voice", "upload"
    text: str
    t_start_s: float
    t_end_s: float


@dataclass(frozen=True)
class TimedCue:
    """A reading on its way to fusion, at the session time it is fused at (a frame's time, an utterance's end)."""

    cue: TextEmotion | ProsodyCues | FaceCues
    t_s: float
