"""Each modality's analyzer: camera frames to face readings, utterances to transcripts and voice readings, words to
the emotion in them. All of them run their model the one way `read_cue` does: under the model's lock (when it is
shared between sessions), a failure or a NaN becoming a problem in words and no reading, so a broken model drops its
modality out of fusion for that moment and the session goes on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from basics.audio import SAMPLE_RATE_HZ
from perception.cues import FaceCues, ProsodyCues, TextEmotion, Transcript
from ui.pipeline.consent import ConsentState
from ui.pipeline.events import Frame, Utterance, Words
from ui.pipeline.models import FaceAnalyzer, SessionModels
from ui.pipeline.stage import one_line
from ui.pipeline.timeline import Timeline

T = TypeVar("T")
CueT = TypeVar("CueT", TextEmotion, ProsodyCues, FaceCues)


@dataclass(frozen=True)
class Read(Generic[T]):
    """A model's answer, or None and why not, in words."""

    value: T | None
    problem: str = ""


def call_model(call: Callable[[], T], *, failed: str, lock: threading.Lock | None = None) -> Read[T]:
    """CALL, under LOCK when given; a failure is "FAILED: the error's first line"."""
    try:
        with lock if lock is not None else nullcontext():
            return Read(call())
    except Exception as err:  # one bad input must not end the session
        return Read(None, f"{failed}: {one_line(err)}")


def read_cue(modality: str, call: Callable[[], CueT], *, failed: str, lock: threading.Lock | None = None) -> Read[CueT]:
    """One modality's reading: the model run as `call_model` runs it, and a reading with a NaN in it dropped (it
    must not reach fusion, the screen or the record)."""
    read = call_model(call, failed=failed, lock=lock)
    if read.value is not None and not_a_number(read.value):
        return Read(None, f"{modality} reading was not a number (NaN): left out of fusion")
    return read


def not_a_number(cue: Any) -> bool:
    """A reading with a NaN or infinity in it (a broken model)."""
    values = [getattr(cue, name, 0.0) for name in ("confidence", "valence", "arousal")]
    values += list((getattr(cue, "probs", None) or {}).values())
    try:
        return not all(np.isfinite(float(v)) for v in values)
    except (TypeError, ValueError):
        return True


def close_quietly(thing: Any) -> None:
    close = getattr(thing, "close", None)
    if callable(close):
        try:
            close()
        except Exception:
            pass


class FaceReader:
    """Frames to face readings. One frame in analysis at a time: live, a frame that arrives meanwhile is dropped
    (`drop_while_busy`), so the face path runs at whatever rate the CPU sustains; replay waits for every frame.
    Live, while a turn is worked out (`turn_in_progress`), a frame is analysed at most every
    `interval_while_turn_s`: on two cores the face at full rate takes the CPU that speech-to-text and the reply need,
    and the reply is what the person waits for (the state a reply uses is taken when its turn begins).
    The face tracker is this person's: made on the first frame, closed when the camera is revoked."""

    def __init__(self, models: SessionModels, consent: ConsentState, timeline: Timeline, *, drop_while_busy: bool,
                 min_interval_s: float, interval_while_turn_s: float = 0.0,
                 turn_in_progress: Callable[[], bool] = lambda: False) -> None:
        self._models = models
        self._consent = consent
        self._timeline = timeline
        self.drop_while_busy = drop_while_busy
        self.min_interval_s = min_interval_s
        self.interval_while_turn_s = interval_while_turn_s
        self._turn_in_progress = turn_in_progress
        self.analyzer: FaceAnalyzer | None = None
        self._busy = threading.Lock()
        self._last_t_s = -1e9

    def process(self, item: Frame) -> Sequence[FaceCues]:
        """The reading of this frame; nothing when it was dropped (busy, revoked meanwhile) or failed (a problem)."""
        if self._models.new_face_analyzer is None:
            self._timeline.problem("face analysis unavailable: " + self._models.status.get("face", "not loaded"))
            return []
        if not item.wait and item.t_s - self._last_t_s < self.interval_s():
            self._timeline.count("frames_dropped_busy")
            return []
        if not self._busy.acquire(blocking=item.wait or not self.drop_while_busy):
            self._timeline.count("frames_dropped_busy")
            return []
        try:
            if not self._consent.allows("camera"):  # revoked while this frame waited
                self._timeline.count("frames_dropped_no_consent")
                return []
            read = read_cue("face", lambda: self._analyze(item), failed="face analysis failed")
        finally:
            self._busy.release()
        if read.value is None:  # a broken model: the face drops out of fusion for this frame, the stream goes on
            self._timeline.problem(read.problem)
            return []
        return [read.value]

    def interval_s(self) -> float:
        """The least time between two analysed live frames, now."""
        if self.drop_while_busy and self.interval_while_turn_s > self.min_interval_s and self._turn_in_progress():
            return self.interval_while_turn_s
        return self.min_interval_s

    def _analyze(self, frame: Frame) -> FaceCues:
        if self.analyzer is None:
            assert self._models.new_face_analyzer is not None, "checked by process"
            self.analyzer = self._models.new_face_analyzer()
        cues = self.analyzer.analyze(np.asarray(frame.rgb), frame.t_s)
        self._last_t_s = frame.t_s
        return cues

    def purge(self, modality: str) -> None:
        """A new tracker of the face starts from nothing when the camera comes back."""
        if modality != "face":
            return
        with self._timeline.lock:
            analyzer, self.analyzer = self.analyzer, None
        if analyzer is not None:
            with self._busy:
                close_quietly(analyzer)

    def close(self) -> None:
        with self._busy:
            analyzer, self.analyzer = self.analyzer, None
        close_quietly(analyzer)


@dataclass(frozen=True)
class Heard:
    """An utterance's words: the joined text, and the transcript on the session's clock; and how it was said as
    the speech-to-text encoder heard it (pooled states, faster-whisper only, else None), which the voice reuses."""

    utterance: Utterance
    text: str
    transcript: Transcript
    voice_states: Any = None


class Transcriber:
    """Utterances to words (speech-to-text under its lock). Nothing heard is no turn."""

    def __init__(self, models: SessionModels, timeline: Timeline) -> None:
        self._models = models
        self._timeline = timeline

    def process(self, item: Utterance) -> Sequence[Heard]:
        asr = self._models.asr
        if asr is None:
            self._timeline.problem("speech-to-text unavailable: " + self._models.status.get("asr", "not loaded"))
            return []
        def transcribe() -> tuple[Sequence[Transcript], Any]:
            # the states are read under the same lock, right after the pass that left them
            return asr.transcribe(item.audio, SAMPLE_RATE_HZ), getattr(asr, "voice_states", lambda: None)()

        read = call_model(transcribe, failed="speech-to-text failed", lock=self._models.locks["asr"])
        if read.value is None:
            self._timeline.problem(read.problem)
            return []
        transcripts, voice_states = read.value
        text = " ".join(t.text.strip() for t in transcripts if t.text.strip()).strip()
        if not text:
            return []
        return [Heard(item, text, shift_transcript(transcripts, text, item.t_start_s, item.t_end_s), voice_states)]

    def purge(self, modality: str) -> None:
        """Holds nothing."""

    def close(self) -> None:
        """Holds nothing."""


def shift_transcript(transcripts: Iterable[Transcript], text: str, t_start_s: float, t_end_s: float) -> Transcript:
    """ASR times are relative to the utterance; the session's timeline wants session time."""
    transcripts = list(transcripts)
    words = tuple(
        type(w)(w.text, w.t_start_s + t_start_s, w.t_end_s + t_start_s, w.probability)
        for t in transcripts for w in t.words
    )
    confidences = [t.confidence for t in transcripts]
    language = next((t.language for t in transcripts), "en")
    return Transcript(text, words, language, t_start_s, t_end_s,
                      float(np.mean(confidences)) if confidences else 0.0)


class VoiceReader:
    """Utterances to how they were said (prosody), read against this speaker's own running baseline."""

    def __init__(self, models: SessionModels, consent: ConsentState, lock: threading.RLock) -> None:
        self._models = models
        self._consent = consent
        self._lock = lock
        self._baseline = models.new_speaker_baseline() if models.new_speaker_baseline else None

    def process(self, item: Utterance, voice_states: Any = None) -> Sequence[Read[ProsodyCues]]:
        """`voice_states`: the speech-to-text encoder's pooled states of this utterance (Heard.voice_states), read
        by the voice model's encoder head; None leaves the voice to the prosodic features."""
        extract = self._models.extract_prosody
        if extract is None:
            return [Read(None, "prosody unavailable")]
        if not self._consent.allows("microphone"):  # revoked meanwhile: no reading, and nothing to say
            return [Read(None)]
        extra = {} if voice_states is None else {"encoder_states": voice_states}
        return [read_cue("voice", lambda: extract(item.audio, SAMPLE_RATE_HZ, item.t_start_s, item.t_end_s,
                                                  self._baseline, **extra),
                         failed="prosody failed", lock=self._models.locks["prosody"])]

    def purge(self, modality: str) -> None:
        """The voice baseline is a summary of this person's voice."""
        if modality == "voice" and self._models.new_speaker_baseline:
            with self._lock:
                self._baseline = self._models.new_speaker_baseline()

    def close(self) -> None:
        """Holds only memory."""


class WordsReader:
    """Words (typed or heard) to the emotion in them."""

    def __init__(self, models: SessionModels) -> None:
        self._models = models

    def process(self, item: Words) -> Sequence[Read[TextEmotion]]:
        model = self._models.text_emotion
        if model is None:
            return [Read(None, "text emotion unavailable")]
        return [read_cue("text", lambda: model.predict(item.text, item.t_start_s, item.t_end_s),
                         failed="text emotion failed", lock=self._models.locks["text"])]

    def purge(self, modality: str) -> None:
        """Holds nothing: typed words are the conversation's, not a device's."""

    def close(self) -> None:
        """Holds nothing."""
