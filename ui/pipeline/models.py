"""The models a live session calls, as Protocols (what the session needs of each, not which library gives it), the
`SessionModels` that holds them, and `load_models`, which wires the real ones.

`SessionModels` is shared between sessions; anything stateful per person (the face tracker, the speaker's voice
baseline, the fusion tracker) is made per session by a factory here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from agent.contracts import Reply
from basics.audio import SAMPLE_RATE_HZ  # what VAD, ASR and prosody expect
from fusion.state import EmotionState
from perception.cues import FaceCues, ProsodyCues, TextEmotion, Transcript
from ui.pipeline.stage import one_line

VAD_MIN_SILENCE_MS = 400  # pauses shorter than this stay inside one speech segment


class SpeechToText(Protocol):
    def transcribe(self, audio: np.ndarray, sample_rate_hz: int) -> Sequence[Transcript]: ...


class TextEmotionModel(Protocol):
    def predict(self, text: str, t_start_s: float = 0.0, t_end_s: float = 0.0) -> TextEmotion: ...


class FaceAnalyzer(Protocol):
    """One person's face over time (mediapipe's VIDEO mode tracks it from frame to frame)."""

    def analyze(self, rgb: np.ndarray, t_s: float) -> FaceCues: ...


class ProsodyExtractor(Protocol):
    def __call__(self, audio: np.ndarray, sample_rate_hz: int, t_start_s: float, t_end_s: float,
                 baseline: Any, *, encoder_states: Any = None) -> ProsodyCues: ...
    # baseline: perception.prosody.SpeakerBaseline; encoder_states: the speech-to-text pass's pooled states


class Tracker(Protocol):
    """A session's fusion (fusion.fuse.FusionTracker)."""

    def update(self, cue: TextEmotion | ProsodyCues | FaceCues) -> bool: ...

    def state(self, now_s: float) -> EmotionState: ...

    def set_enabled(self, modality: str, on: bool) -> None: ...


class ResponderModel(Protocol):
    def respond(self, text: str, state: EmotionState | None = None, history: Any = (),
                on_token: Callable[[str], None] | None = None, on_restart: Callable[[], None] | None = None,
                ) -> Reply: ...


SpeechSegments = Callable[[np.ndarray], list[tuple[float, float]]]  # 16 kHz audio -> [(start_s, end_s)]


@dataclass
class SessionModels:
    """The models a session uses; any of them may be None (not installed, failed to load), and the session then
    does what it can without it, saying so in `status`. Shared between sessions: each is called under its own lock
    by the session, and anything stateful per person is built per session by a factory."""

    asr: SpeechToText | None = None
    text_emotion: TextEmotionModel | None = None
    extract_prosody: ProsodyExtractor | Callable[..., ProsodyCues] | None = None
    new_speaker_baseline: Callable[[], Any] | None = None  # () -> a running baseline of this speaker's voice
    new_face_analyzer: Callable[[], FaceAnalyzer] | None = None  # (VIDEO mode: one per person)
    new_tracker: Callable[[], Tracker] | None = None
    responder: ResponderModel | None = None
    local_responder: ResponderModel | None = None  # used instead when the LLM is remote and "remote" consent is off
    speech_segments: SpeechSegments | None = None
    status: dict[str, str] = field(default_factory=dict)  # part -> what was loaded, or why not
    backend_remote: bool = False  # True when the responder's LLM is on another machine
    backend_label: str = ""
    # One call at a time per model across sessions (2 cores: parallel calls would only fight), but one lock per
    # model, so a reply being written never holds up voice activity detection on the audio stream.
    locks: dict[str, threading.Lock] = field(
        default_factory=lambda: {part: threading.Lock() for part in ("asr", "text", "prosody", "responder")})

    def close(self) -> None:
        close = getattr(self.responder, "close", None)
        if callable(close):
            close()


class _RememberingTextEmotion:
    """The text emotion model, remembering its last readings: the responder's appraisal asks about the same words
    the session has just read, and reading them again would double the encoder's share of the reply's wait."""

    REMEMBERED = 32

    def __init__(self, model: TextEmotionModel) -> None:
        self.model = model
        self.name = getattr(model, "name", "text emotion")
        self._recent: dict[str, dict[str, float]] = {}

    def predict(self, text: str, t_start_s: float = 0.0, t_end_s: float = 0.0) -> TextEmotion:
        reading = self.model.predict(text, t_start_s, t_end_s)
        self._recent[text.strip()] = reading.probs
        while len(self._recent) > self.REMEMBERED:
            self._recent.pop(next(iter(self._recent)))
        return reading

    def probs(self, text: str) -> dict[str, float]:
        known = self._recent.get(text.strip())
        return known if known is not None else self.predict(text).probs


def load_models(*, asr_engine: str = "faster-whisper", asr_model: str | None = None, text_model: str = "default",
                backend_kind: str = "llamacpp", backend_model: str | None = None, backend_url: str | None = None,
                backend_api_key: str | None = None, parts: Iterable[str] = ("vad", "asr", "text", "prosody", "face",
                                                                             "fusion", "responder")) -> SessionModels:
    """Load every part it can; a part that fails is left None and `status` says why (the demo still starts,
    showing what is missing, rather than dying on one absent model)."""
    models = SessionModels()
    parts = set(parts)
    status = models.status

    def attempt(part: str, load: Callable[[], str]) -> None:
        if part not in parts:
            status[part] = "off"
            return
        started = time.perf_counter()
        try:
            status[part] = f"{load()} ({time.perf_counter() - started:.1f} s to load)"
        except Exception as err:
            status[part] = f"unavailable: {one_line(err)}"

    def vad() -> str:
        from perception.vad import speech_segments

        def segments(audio: np.ndarray) -> list[tuple[float, float]]:
            found = speech_segments(audio, SAMPLE_RATE_HZ, min_silence_s=VAD_MIN_SILENCE_MS / 1000.0,
                                    speech_pad_s=0.0)
            return [(s.t_start_s, s.t_end_s) for s in found]

        segments(np.zeros(SAMPLE_RATE_HZ, dtype=np.float32))  # loads and checks the Silero file now, not mid-turn
        models.speech_segments = segments
        return "Silero VAD"

    def asr() -> str:
        from perception.asr import make_asr

        models.asr = make_asr(engine=asr_engine, model=asr_model)
        return f"{asr_engine} {getattr(models.asr, 'model', asr_model or '')}".strip()

    def text() -> str:
        from perception.text_emotion import make_text_emotion

        models.text_emotion = make_text_emotion(text_model)
        models.text_emotion.predict("hello", 0.0, 0.0)  # the encoder loads lazily; load it before the first turn
        return f"text emotion {getattr(models.text_emotion, 'model', text_model)}"

    def prosody() -> str:
        from perception.prosody import SpeakerBaseline, extract_prosody, load_model

        load_model()
        models.extract_prosody = extract_prosody
        models.new_speaker_baseline = SpeakerBaseline
        return "prosody model"

    def face() -> str:
        from perception.face import FaceAnalyzer

        FaceAnalyzer(mode="video").close()  # fail now, at start-up, if its model files are missing
        models.new_face_analyzer = lambda: FaceAnalyzer(mode="video")
        return "face (mediapipe landmarks + FER CNN)"

    def fusion() -> str:
        from fusion.fuse import FusionTracker

        weights = FusionTracker().weights  # read the fitted weights once, share them between sessions
        models.new_tracker = lambda: FusionTracker(weights=weights)
        return "fusion"

    def responder() -> str:
        from agent.appraisal import with_cue_lexicon
        from agent.backends import LLMError, make_backend
        from agent.responder import Responder

        try:
            backend = make_backend(backend_kind, model=backend_model, url=backend_url, api_key=backend_api_key)
            llm_failed = ""
        except LLMError as err:  # a missing or corrupt model file: the person still gets (template) replies
            backend, llm_failed = None, one_line(err)
        appraisal_reading = None
        if models.text_emotion is not None:  # the appraisal reads the words with the same model the panel shows
            remembering = _RememberingTextEmotion(models.text_emotion)
            models.text_emotion = remembering

            def text_probs(text: str) -> dict[str, float]:
                with models.locks["text"]:
                    return remembering.probs(text)

            # and, as `empathic respond` and the reply evaluation do, lets the cue lexicon decide where the model is
            # unsure or cheers a setback (it once appraised with the bare model: "I have my driving test tomorrow and
            # I can't sleep" read joy live and fear on the command line)
            appraisal_reading = with_cue_lexicon(text_probs)
        models.responder = Responder(backend, text_emotion=appraisal_reading)
        models.local_responder = Responder(None, text_emotion=appraisal_reading)  # templates: nothing leaves
        models.responder.retriever  # noqa: B018  (load the exemplar embeddings now, not during the first turn)
        models.backend_remote = bool(getattr(backend, "remote", False))
        models.backend_label = f"{getattr(backend, 'name', backend_kind)} {getattr(backend, 'model', '')}".strip()
        if llm_failed:
            return f"template replies only: LLM failed to load ({llm_failed})"
        return f"LLM {models.backend_label}" + (" (remote)" if models.backend_remote else " (on this machine)")

    for part, load in (("vad", vad), ("asr", asr), ("text", text), ("prosody", prosody), ("face", face),
                       ("fusion", fusion), ("responder", responder)):
        attempt(part, load)
    return models
