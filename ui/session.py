"""One conversation with the agent, live or replayed: consent gate -> perception -> fusion -> responder.

Plain Python, no web framework: the Gradio app (ui/app.py) feeds it from the browser, and replay feeds the very same
class from files. The session owns everything that belongs to one person (consent, buffers, speaker baseline, face
tracker, fusion tracker, conversation); `SessionModels` holds what can be shared between sessions (the loaded models).

Consent is enforced here, at the edge: `on_frame` and `on_audio_chunk` drop what arrives without consent before any
model sees it (and count it as dropped); revoking a toggle purges what that modality buffered and tells fusion to
forget its cues. Turn-taking is by voice activity: microphone audio is buffered, and once speech has been followed by
`END_OF_SPEECH_SILENCE_S` of silence the utterance goes through ASR -> text emotion + prosody -> fusion -> responder.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from perception.audio import SAMPLE_RATE_HZ  # what VAD, ASR and prosody expect
from perception.cues import FaceCues, ProsodyCues, TextEmotion, Transcript, as_json, top_label
from ui.report import because

END_OF_SPEECH_SILENCE_S = 0.7  # silence after speech that ends a turn: long enough not to cut at a comma
MIN_UTTERANCE_S = 0.3  # shorter "speech" is a click or a cough
MAX_UTTERANCE_S = 20.0  # a monologue is cut here so the person gets an answer and the buffer stays bounded
IDLE_KEEP_S = 1.0  # with no speech in the buffer, keep only this much (the onset of speech that may follow)
UTTERANCE_PAD_S = 0.15  # around the speech VAD found, so ASR hears the first and last phoneme whole
VAD_MIN_SILENCE_MS = 400  # pauses shorter than this stay inside one speech segment
FACE_MIN_INTERVAL_S = 0.0  # 0: analyse every frame the CPU can keep up with; busy frames are dropped
MAX_PROBLEMS = 50  # the newest kept: what the person sees is the last few
MAX_EVENTS = 20000  # the in-memory timeline of one session (about an hour of face readings at 5/s)

CONSENT_NAMES: tuple[str, ...] = ("camera", "microphone", "store", "remote")
CONSENT_MODALITIES: dict[str, tuple[str, ...]] = {"camera": ("face",), "microphone": ("voice",)}


@dataclass(frozen=True)
class ConsentChange:
    name: str
    granted: bool
    t_s: float  # session time
    time_utc: str


class ConsentState:
    """The four toggles, all off until the person turns them on, and the ledger of every change."""

    def __init__(self) -> None:
        self._granted = {name: False for name in CONSENT_NAMES}
        self.ledger: list[ConsentChange] = []
        self._lock = threading.Lock()

    def allows(self, name: str) -> bool:
        return self._granted[_check_consent_name(name)]

    def set(self, name: str, granted: bool, t_s: float) -> bool:
        """Record a change; returns False when the toggle already had that value (nothing written)."""
        name = _check_consent_name(name)
        with self._lock:
            if self._granted[name] == bool(granted):
                return False
            self._granted[name] = bool(granted)
            self.ledger.append(ConsentChange(name, bool(granted), round(t_s, 3),
                                             datetime.now(UTC).isoformat(timespec="milliseconds")))
            return True

    def as_dict(self) -> dict[str, bool]:
        return dict(self._granted)

    def __getattr__(self, name: str) -> bool:  # consent.camera, consent.microphone, ...
        if name in CONSENT_NAMES:
            return self._granted[name]
        raise AttributeError(name)


def _check_consent_name(name: str) -> str:
    if name not in CONSENT_NAMES:
        raise ValueError(f"unknown consent toggle {name!r}; known: {', '.join(CONSENT_NAMES)}")
    return name


@dataclass
class SessionModels:
    """The models a session uses; any of them may be None (not installed, failed to load), and the session then
    does what it can without it, saying so in `status`. Shared between sessions: each is called under its own lock
    by the session, and anything stateful per person is built per session by a factory."""

    asr: Any = None  # .transcribe(audio, sample_rate_hz) -> list[Transcript]
    text_emotion: Any = None  # .predict(text, t_start_s, t_end_s) -> TextEmotion
    extract_prosody: Callable | None = None  # (audio, sr, t_start_s, t_end_s, baseline, encoder_states=) -> ProsodyCues
    new_speaker_baseline: Callable | None = None  # () -> a running baseline of this speaker's voice
    new_face_analyzer: Callable | None = None  # () -> analyzer with .analyze(rgb, t_s) -> FaceCues (VIDEO mode)
    new_tracker: Callable | None = None  # () -> fusion tracker
    responder: Any = None  # .respond(text, state=..., history=..., on_token=..., on_restart=...) -> Reply
    local_responder: Any = None  # used instead when the responder's LLM is remote and "remote" consent is off
    speech_segments: Callable | None = None  # (audio16k) -> list[(start_s, end_s)]
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


@dataclass(frozen=True)
class Turn:
    """One exchange: what the person said (typed or spoken) and what the agent answered."""

    source: str  # "text", "voice", "upload"
    text: str
    t_start_s: float
    t_end_s: float
    transcript: Transcript | None
    text_emotion: TextEmotion | None
    prosody: ProsodyCues | None
    state: Any  # fusion.state.EmotionState or None
    reply: Any  # agent.contracts.Reply or None
    speech_end_to_reply_s: float | None = None  # wall time from the end of speech to the full reply
    problems: tuple[str, ...] = ()  # what could not run, in words


class LiveSession:
    """One person's session. Feed it frames, audio chunks and typed text; read `snapshot()` for the UI.

    `background_turns=True` (the live app) runs spoken turns on a worker thread so the audio stream never waits
    for the LLM; replay leaves it False so turns run in order, inline, and the timeline is reproducible.
    `drop_frames_while_busy=True` (live) drops a frame that arrives while the previous one is being analysed,
    which keeps the face path at whatever rate the CPU sustains; replay analyses every frame it is given.
    """

    def __init__(self, models: SessionModels, *, background_turns: bool = False, drop_frames_while_busy: bool = False,
                 face_min_interval_s: float = FACE_MIN_INTERVAL_S, clock: Callable[[], float] = time.monotonic,
                 on_store: Callable[[dict], None] | None = None, history_turns: int = 6):
        self.models = models
        self.consent = ConsentState()
        self.background_turns = background_turns
        self.drop_frames_while_busy = drop_frames_while_busy
        self.face_min_interval_s = face_min_interval_s
        self.history_turns = history_turns
        self.on_store = on_store  # the recorder (ui/recorder.py): called with every event only while "store" is on
        self._clock = clock
        self._t0 = clock()
        self.counters: dict[str, int] = {
            "frames_received": 0, "frames_dropped_no_consent": 0, "frames_dropped_busy": 0, "frames_analyzed": 0,
            "faces_found": 0, "audio_chunks_received": 0, "audio_chunks_dropped_no_consent": 0,
            "audio_chunks_processed": 0, "utterances": 0, "turns": 0, "replies": 0, "purges": 0,
        }
        self.events: deque[dict] = deque(maxlen=MAX_EVENTS)
        self.turns: list[Turn] = []
        self.chat: list[dict[str, str]] = []  # {"role": "user"|"assistant", "content": ...}
        self.partial_reply: str = ""  # the reply being written (the screen shows only the checked reply)
        self.pending_user_text: str = ""  # what the person said, shown as soon as ASR knows it, before the turn
        self.replying = False  # a reply is being worked out (the screen shows "thinking")
        self.problems: list[str] = []
        self.version = 0  # bumped on every change the UI would show
        self.last_face: FaceCues | None = None
        self.last_safety: tuple[str, str] = ("none", "")  # the last reply's safety level and reason, for the panel
        self.last_text_emotion: TextEmotion | None = None
        self.last_prosody: ProsodyCues | None = None
        self.state: Any = None
        self._audio = np.zeros(0, dtype=np.float32)  # microphone audio at 16 kHz not yet part of a turn
        self._audio_t0_s: float | None = None  # session time of self._audio[0]
        self._resampler: tuple[int, Any] | None = None  # (input rate, soxr stream) of the microphone stream
        self._lock = threading.RLock()  # session data
        self._face_lock = threading.Lock()  # one frame in analysis at a time
        self._turn_lock = threading.Lock()  # one turn at a time (typed and spoken turns share the conversation)
        self._face_analyzer: Any = None
        self._face_last_t_s = -1e9
        self._baseline = models.new_speaker_baseline() if models.new_speaker_baseline else None
        self._tracker = models.new_tracker() if models.new_tracker else None
        for modalities in CONSENT_MODALITIES.values():  # off until consent is given, like the toggles
            for modality in modalities:
                _tracker_enable(self._tracker, modality, False)
        self._queue: queue.Queue | None = None
        self._worker: threading.Thread | None = None
        self._closed = False
        self.busy_turns = 0

    # --- time and events -------------------------------------------------------------------------------------

    def now_s(self) -> float:
        return self._clock() - self._t0

    def _event(self, kind: str, t_s: float, **data: Any) -> None:
        event = {"kind": kind, "t_s": round(float(t_s), 3), **data}
        with self._lock:
            self.events.append(event)
            self.version += 1
        self._store("event", as_json(event))

    def _store(self, what: str, *args: Any, gate: bool = True) -> None:
        """Hand the recorder (`on_store`) what it keeps, only while "store" consent is on: it is called with each
        event, and, where it has them, `begin(ledger)`, `consent(change)`, `audio(samples_16k, t_s)`,
        `frame(rgb, t_s)` and `end()` are called too. `gate=False` only for the change that turns storing off, so
        the stored ledger shows where the recording ended."""
        if self.on_store is None or (gate and not self.consent.allows("store")):
            return
        write = self.on_store if what == "event" else getattr(self.on_store, what, None)
        if not callable(write):
            return
        try:
            write(*args)
        except Exception as err:  # a full disk must not end the conversation
            self._problem(f"recording failed: {_one_line(err)}")

    def _problem(self, message: str) -> None:
        with self._lock:
            if message not in self.problems:
                self.problems.append(message)
                del self.problems[:-MAX_PROBLEMS]  # an hour of varied errors must not grow without bound
            self.version += 1

    # --- consent ---------------------------------------------------------------------------------------------

    def set_consent(self, name: str, granted: bool) -> bool:
        """Turn a toggle on or off. Off purges what that modality buffered and drops its cues from fusion."""
        t_s = self.now_s()
        changed = self.consent.set(name, granted, t_s)
        if not changed:
            return False
        change = as_json(self.consent.ledger[-1])
        if name == "store" and granted:
            self._store("begin", as_json(self.consent.ledger))  # the ledger so far, this change included
        elif name == "store":
            self._store("consent", change, gate=False)
            self._store("end", gate=False)
        else:
            self._store("consent", change)
        self._event("consent", t_s, name=name, granted=bool(granted))
        if not granted:
            self._purge(name)
        for modality in CONSENT_MODALITIES.get(name, ()):
            _tracker_enable(self._tracker, modality, bool(granted))
        return True

    def _purge(self, name: str) -> None:
        with self._lock:
            self.counters["purges"] += 1
            if name == "camera":
                self.last_face = None
                self._drop_events("face")
                self._drop_states_since_consent("camera")  # fused states that used the face are face data too
                analyzer, self._face_analyzer = self._face_analyzer, None
            elif name == "microphone":
                self._audio = np.zeros(0, dtype=np.float32)
                self._audio_t0_s = None
                self._resampler = None  # it holds the last few milliseconds of audio too
                self.last_prosody = None
                self.pending_user_text = ""
                self._drop_events("voice")
                if self.models.new_speaker_baseline:  # the voice baseline is a summary of this person's voice
                    self._baseline = self.models.new_speaker_baseline()
                analyzer = None
                if self._queue is not None:  # utterances waiting for ASR are microphone data too
                    while True:
                        try:
                            self._queue.get_nowait()
                        except queue.Empty:
                            break
            else:
                analyzer = None
            self.version += 1
        for modality in CONSENT_MODALITIES.get(name, ()):
            _tracker_purge(self._tracker, modality)
        if analyzer is not None:  # a new tracker of the face starts from nothing when the camera comes back
            with self._face_lock:
                _close(analyzer)
        with self._lock:
            self.state = _tracker_state(self._tracker, self.now_s()) if self._tracker is not None else None
            state = self.state
        if state is not None and state.confidence > 0:  # the timeline shows the state without it from now on
            self._event("state", self.now_s(), label=state.label, probs=state.probs, valence=state.valence,
                        arousal=state.arousal, confidence=state.confidence, incongruent=state.incongruent,
                        why=state.why)

    def _drop_states_since_consent(self, name: str) -> None:
        """Drop the fused states since `name` was last granted (the caller holds the lock)."""
        granted = [e["t_s"] for e in self.events if e["kind"] == "consent" and e.get("name") == name
                   and e.get("granted")]
        if not granted:
            return
        since_s = granted[-1]
        kept = [e for e in self.events if not (e["kind"] == "state" and e["t_s"] >= since_s)]
        self.events.clear()
        self.events.extend(kept)

    def _drop_events(self, kind: str) -> None:
        kept = [e for e in self.events if e["kind"] != kind]
        self.events.clear()
        self.events.extend(kept)

    # --- camera ----------------------------------------------------------------------------------------------

    def on_frame(self, frame: np.ndarray | None, t_s: float | None = None, wait: bool = False) -> FaceCues | None:
        """A video frame (RGB uint8 HxWx3). Returns the face reading, or None when the frame was dropped.
        `wait=True` (a photo the person chose to send) waits for a busy analyzer instead of dropping the frame."""
        if frame is None:
            return None
        t_s = self.now_s() if t_s is None else float(t_s)
        with self._lock:
            self.counters["frames_received"] += 1
            if not self.consent.allows("camera"):
                self.counters["frames_dropped_no_consent"] += 1
                return None
        self._store("frame", frame, t_s)  # the recorder keeps a few frames a second of what the camera may show
        if self.models.new_face_analyzer is None:
            self._problem("face analysis unavailable: " + self.models.status.get("face", "not loaded"))
            return None
        if not wait and t_s - self._face_last_t_s < self.face_min_interval_s:
            with self._lock:
                self.counters["frames_dropped_busy"] += 1
            return None
        if not self._face_lock.acquire(blocking=wait or not self.drop_frames_while_busy):
            with self._lock:
                self.counters["frames_dropped_busy"] += 1
            return None
        try:
            if not self.consent.allows("camera"):  # revoked while this frame waited
                with self._lock:
                    self.counters["frames_dropped_no_consent"] += 1
                return None
            if self._face_analyzer is None:
                self._face_analyzer = self.models.new_face_analyzer()
            cues = self._face_analyzer.analyze(np.asarray(frame), t_s)
            self._face_last_t_s = t_s
        except Exception as err:  # one bad frame must not end the stream
            self._problem(f"face analysis failed: {_one_line(err)}")
            return None
        finally:
            self._face_lock.release()
        if _not_a_number(cues):  # a broken model: the face drops out of fusion for this frame, the stream goes on
            self._problem("face reading was not a number (NaN): left out of fusion")
            return None
        with self._lock:
            if not self.consent.allows("camera"):  # revoked during analysis: keep nothing
                return None
            self.counters["frames_analyzed"] += 1
            if cues.confidence > 0:
                self.counters["faces_found"] += 1
            self.last_face = cues
        if cues.confidence > 0:
            self._add_cue("face", cues, t_s)
        self._event("face", t_s, label=top_label(cues.probs) if cues.confidence > 0 else None,
                    confidence=cues.confidence, probs=cues.probs, valence=cues.valence, arousal=cues.arousal,
                    reason=cues.reason)
        return cues

    # --- microphone ------------------------------------------------------------------------------------------

    def on_audio_chunk(self, samples: np.ndarray | None, sample_rate_hz: int, t_s: float | None = None,
                       inline: bool | None = None) -> list[Turn]:
        """A chunk of microphone audio (int16 or float, mono or (n, channels)). `t_s` is the session time of its
        first sample (live: now minus its length). Returns the turns it completed when they run inline (the
        default unless the session runs turns in the background; `inline` overrides that for this call)."""
        if samples is None:
            return []
        with self._lock:
            self.counters["audio_chunks_received"] += 1
            if not self.consent.allows("microphone"):
                self.counters["audio_chunks_dropped_no_consent"] += 1
                return []
        try:
            chunk = self._to_16k(samples, int(sample_rate_hz))
        except Exception as err:
            self._problem(_one_line(err))
            return []
        if t_s is None:
            t_s = self.now_s() - len(chunk) / SAMPLE_RATE_HZ
        with self._lock:
            if not self.consent.allows("microphone"):
                self.counters["audio_chunks_dropped_no_consent"] += 1
                return []
            self.counters["audio_chunks_processed"] += 1
            if self._audio_t0_s is None or not len(self._audio):
                self._audio_t0_s = float(t_s)
            self._audio = np.concatenate([self._audio, chunk])
        self._store("audio", chunk, float(t_s))
        return self._dispatch(self._cut_utterances(final=False), inline)

    def _to_16k(self, samples: np.ndarray, sample_rate_hz: int) -> np.ndarray:
        """Mono float32 at 16 kHz through one resampler per stream: resampling each chunk on its own would put a
        click at every chunk boundary (every half second), which costs the ASR words."""
        from perception.audio import audio_from_array

        mono = audio_from_array(samples, sample_rate_hz, sample_rate_hz, label="microphone chunk")
        if sample_rate_hz == SAMPLE_RATE_HZ:
            return mono
        with self._lock:
            if self._resampler is None or self._resampler[0] != sample_rate_hz:
                import soxr

                self._resampler = (sample_rate_hz, soxr.ResampleStream(sample_rate_hz, SAMPLE_RATE_HZ, 1,
                                                                       dtype="float32"))
            return self._resampler[1].resample_chunk(mono)

    def end_audio(self, inline: bool | None = None) -> list[Turn]:
        """The microphone stopped (or the file ended): whatever speech is buffered becomes a turn."""
        with self._lock:
            resampler, self._resampler = self._resampler, None
            if resampler is not None and self._audio_t0_s is not None:  # what the resampler still holds
                self._audio = np.concatenate([self._audio, resampler[1].resample_chunk(
                    np.zeros(0, dtype=np.float32), last=True)])
        return self._dispatch(self._cut_utterances(final=True), inline)

    def _cut_utterances(self, final: bool) -> list[tuple[np.ndarray, float, float, float]]:
        """The finished utterances at the front of the buffer, each (audio, t_start_s, t_end_s, wall time its
        speech ended). Speech segments closer than END_OF_SPEECH_SILENCE_S belong to one utterance; an utterance
        is finished once that much silence follows it (or `final`), or when it has run MAX_UTTERANCE_S."""
        with self._lock:
            audio, t0 = self._audio, self._audio_t0_s
        if t0 is None or not len(audio):
            return []
        if self.models.speech_segments is None:
            self._problem("voice activity detection unavailable: " + self.models.status.get("vad", "not loaded"))
            return []
        segments = self.models.speech_segments(audio)  # Silero's ONNX session is safe to call from many threads
        duration_s = len(audio) / SAMPLE_RATE_HZ
        groups: list[list[float]] = []
        for start_s, end_s in segments:
            if groups and start_s - groups[-1][1] < END_OF_SPEECH_SILENCE_S:
                groups[-1][1] = end_s
            else:
                groups.append([start_s, end_s])
        finished = [g for g in groups if final or duration_s - g[1] >= END_OF_SPEECH_SILENCE_S
                    or g[1] - g[0] >= MAX_UTTERANCE_S]
        if finished:
            cut_at_s = min(duration_s, finished[-1][1] + UTTERANCE_PAD_S)
        elif not groups and (final or duration_s > IDLE_KEEP_S):
            cut_at_s = duration_s if final else duration_s - IDLE_KEEP_S  # silence only: forget it
        else:
            return []
        cut = int(cut_at_s * SAMPLE_RATE_HZ)
        with self._lock:
            if self._audio_t0_s != t0:  # purged meanwhile
                return []
            self._audio = self._audio[cut:]
            self._audio_t0_s = t0 + cut / SAMPLE_RATE_HZ if len(self._audio) else None
        now = time.perf_counter()
        utterances = []
        for start_s, end_s in finished:
            start = max(0, int((start_s - UTTERANCE_PAD_S) * SAMPLE_RATE_HZ))
            stop = min(len(audio), int((end_s + UTTERANCE_PAD_S) * SAMPLE_RATE_HZ))
            if (stop - start) / SAMPLE_RATE_HZ < MIN_UTTERANCE_S:
                continue
            # When the speech really ended, in wall time: the silence we waited for is part of the person's wait.
            speech_ended_at = now - max(0.0, duration_s - end_s)
            utterances.append((audio[start:stop], t0 + start / SAMPLE_RATE_HZ, t0 + stop / SAMPLE_RATE_HZ,
                               speech_ended_at))
        with self._lock:
            self.counters["utterances"] += len(utterances)
        return utterances

    def _dispatch(self, utterances: list[tuple[np.ndarray, float, float, float]],
                  inline: bool | None = None) -> list[Turn]:
        if not utterances:
            return []
        if (not self.background_turns) if inline is None else inline:
            return [t for t in (self._voice_turn(*u) for u in utterances) if t is not None]
        if self._worker is None:
            self._queue = queue.Queue()
            self._worker = threading.Thread(target=self._work, name="session-turns", daemon=True)
            self._worker.start()
        assert self._queue is not None, "made with the worker"
        for utterance in utterances:
            with self._lock:
                self.busy_turns += 1
            self._queue.put(utterance)
        return []

    def _work(self) -> None:
        assert self._queue is not None, "made before this thread starts"
        while not self._closed:
            item = self._queue.get()
            if item is None:
                break
            try:
                self._voice_turn(*item)
            except Exception as err:  # the worker must survive a failed turn
                self._problem(f"turn failed: {_one_line(err)}")
            finally:
                with self._lock:
                    self.busy_turns = max(0, self.busy_turns - 1)
                    self.version += 1

    def _voice_turn(self, audio: np.ndarray, t_start_s: float, t_end_s: float, ended_at: float) -> Turn | None:
        if not self.consent.allows("microphone"):  # revoked while it waited: it is microphone data
            return None
        if self.models.asr is None:
            self._problem("speech-to-text unavailable: " + self.models.status.get("asr", "not loaded"))
            return None
        problems: list[str] = []
        try:
            with self.models.locks["asr"]:
                transcripts = self.models.asr.transcribe(audio, SAMPLE_RATE_HZ)
                # how it was said, as the ASR's encoder heard it (faster-whisper only): the voice head reuses it
                voice_states = getattr(self.models.asr, "voice_states", lambda: None)()
        except Exception as err:
            self._problem(f"speech-to-text failed: {_one_line(err)}")
            return None
        text = " ".join(t.text.strip() for t in transcripts if t.text.strip()).strip()
        if not text:
            return None
        transcript = _shift_transcript(transcripts, text, t_start_s, t_end_s)
        with self._lock:
            self.pending_user_text = text  # on screen now, while prosody, fusion and the reply are worked out
        self._event("transcript", t_end_s, text=text, t_start_s=t_start_s, t_end_s=t_end_s)
        prosody = None
        if self.models.extract_prosody is not None and self.consent.allows("microphone"):
            try:
                with self.models.locks["prosody"]:
                    extra = {} if voice_states is None else {"encoder_states": voice_states}
                    prosody = self.models.extract_prosody(audio, SAMPLE_RATE_HZ, t_start_s, t_end_s, self._baseline,
                                                          **extra)
            except Exception as err:
                problems.append(f"prosody failed: {_one_line(err)}")
        elif self.models.extract_prosody is None:
            problems.append("prosody unavailable")
        if prosody is not None and _not_a_number(prosody):
            problems.append("voice reading was not a number (NaN): left out of fusion")
            prosody = None
        if prosody is not None:
            with self._lock:
                self.last_prosody = prosody
            self._add_cue("voice", prosody, t_end_s)
            self._event("voice", t_end_s, label=top_label(prosody.probs), confidence=prosody.confidence,
                        probs=prosody.probs, valence=prosody.valence, arousal=prosody.arousal)
        return self._turn("voice", text, t_start_s, t_end_s, transcript, prosody, problems, ended_at)

    # --- typed text and uploads ------------------------------------------------------------------------------

    def on_text(self, text: str, on_token: Callable[[str], None] | None = None) -> Turn | None:
        """A typed message. Runs the turn now and returns it (None for empty text)."""
        text = (text or "").strip()
        if not text:
            return None
        t_s = self.now_s()
        return self._turn("text", text, t_s, t_s, None, None, [], None, on_token=on_token)

    def on_utterance(self, samples: np.ndarray, sample_rate_hz: int) -> list[Turn]:
        """A whole recording (an upload): cut by voice activity and answered turn by turn, now."""
        if not self.consent.allows("microphone"):
            with self._lock:
                self.counters["audio_chunks_received"] += 1
                self.counters["audio_chunks_dropped_no_consent"] += 1
            return []
        turns = self.on_audio_chunk(samples, sample_rate_hz, t_s=self.now_s(), inline=True)
        return turns + self.end_audio(inline=True)

    # --- the turn --------------------------------------------------------------------------------------------

    def _turn(self, source: str, text: str, t_start_s: float, t_end_s: float, transcript: Transcript | None,
              prosody: ProsodyCues | None, problems: list[str], ended_at: float | None,
              on_token: Callable[[str], None] | None = None) -> Turn:
        with self._turn_lock:
            text_emotion = None
            if self.models.text_emotion is not None:
                try:
                    with self.models.locks["text"]:
                        text_emotion = self.models.text_emotion.predict(text, t_start_s, t_end_s)
                except Exception as err:
                    problems.append(f"text emotion failed: {_one_line(err)}")
            else:
                problems.append("text emotion unavailable")
            if text_emotion is not None and _not_a_number(text_emotion):
                problems.append("text reading was not a number (NaN): left out of fusion")
                text_emotion = None
            if text_emotion is not None:
                with self._lock:
                    self.last_text_emotion = text_emotion
                self._add_cue("text", text_emotion, t_end_s)
                self._event("text", t_end_s, label=top_label(text_emotion.probs), confidence=text_emotion.confidence,
                            probs=text_emotion.probs, valence=text_emotion.valence, arousal=text_emotion.arousal,
                            source=source, text=text)  # the words too: a typed turn has no transcript event
            with self._lock:
                self.chat.append({"role": "user", "content": text})
                self.pending_user_text = ""
                self.replying = True
                self.partial_reply = ""
                self.counters["turns"] += 1
                self.version += 1
                state = self.state
                history = tuple((m["role"], m["content"]) for m in self.chat[:-1][-2 * self.history_turns:]
                                if not m["content"].startswith("(no reply"))
                responder = self.models.responder
                if self.models.backend_remote and not self.consent.allows("remote"):
                    responder = self.models.local_responder  # words and cues may not leave: a local reply
            reply = None
            if responder is not None:
                def restart() -> None:  # the reply check rejected what streamed; the next attempt starts afresh
                    with self._lock:
                        self.partial_reply = ""
                        self.version += 1

                def stream_token(piece: str) -> None:
                    with self._lock:
                        self.partial_reply += piece
                        self.version += 1
                    if on_token is not None:
                        on_token(piece)

                try:
                    with self.models.locks["responder"]:
                        reply = responder.respond(text, state=state, history=history, on_token=stream_token,
                                                  on_restart=restart)
                except Exception as err:
                    problems.append(f"reply failed: {_one_line(err)}")
            else:
                problems.append("responder " + self.models.status.get("responder", "not loaded"))
            speech_end_to_reply_s = time.perf_counter() - ended_at if ended_at is not None else None
            with self._lock:
                self.partial_reply = ""
                self.replying = False
                if reply is not None:
                    self.last_safety = (reply.appraisal.safety_level, reply.appraisal.safety_reason)
                    self.chat.append({"role": "assistant", "content": reply.text})
                    self.counters["replies"] += 1
                else:
                    why = [p for p in problems if p.startswith(("reply", "responder"))] or problems
                    self.chat.append({"role": "assistant", "content": "(no reply: " + "; ".join(why) + ")"})
                self.version += 1
            if reply is not None:
                self._event("reply", self.now_s(), text=reply.text, route=reply.route,
                            backend=reply.backend, model=reply.model, latency_s=reply.latency_s,
                            appraisal=as_json(reply.appraisal), status=list(reply.status))
                # the LLM failed but the person got a template reply: the status line says what failed
                problems += [s for s in reply.status if s.startswith(("LLM failed", "LLM appraisal failed"))]
            for message in problems:
                self._problem(message)
            turn = Turn(source, text, t_start_s, t_end_s, transcript, text_emotion, prosody, state, reply,
                        speech_end_to_reply_s, tuple(problems))
            with self._lock:
                self.turns.append(turn)
            return turn

    def _add_cue(self, modality: str, cue: Any, t_s: float) -> None:
        if self._tracker is None:
            return
        try:
            with self._lock:
                state = _tracker_add(self._tracker, modality, cue, t_s)
                if state is not None:
                    self.state = state
        except Exception as err:
            self._problem(f"fusion failed: {_one_line(err)}")
            return
        if state is not None:
            self._event("state", t_s, label=state.label, probs=state.probs, valence=state.valence,
                        arousal=state.arousal, confidence=state.confidence, incongruent=state.incongruent,
                        why=state.why)

    # --- reading it out --------------------------------------------------------------------------------------

    def refresh_state(self) -> bool:
        """Re-fuse at the present moment, so readings that have gone quiet (the camera stopped, the last words
        were long ago) fade from the state; True when the state changed enough to show."""
        if self._tracker is None:
            return False
        with self._lock:
            try:
                state = _tracker_state(self._tracker, self.now_s())
            except Exception as err:
                self._problem(f"fusion failed: {_one_line(err)}")
                return False
            old = self.state
            if old is not None and state.label == old.label and abs(state.confidence - old.confidence) < 0.05:
                return False
            if old is None and state.confidence <= 0:
                return False
            self.state = state
            self.version += 1
            return True

    def snapshot(self) -> dict:
        """What the UI shows, as plain values."""
        with self._lock:
            views = {"text": self.last_text_emotion, "voice": self.last_prosody, "face": self.last_face}
            return {
                "version": self.version,
                "consent": self.consent.as_dict(),
                "counters": dict(self.counters),
                "state": self.state,
                "views": views,
                "chat": [dict(m) for m in self.chat],
                "partial_reply": self.partial_reply,
                "pending_user_text": self.pending_user_text,
                "replying": self.replying,
                "busy": self.busy_turns > 0,
                "problems": list(self.problems),
                "transcripts": [e["text"] for e in self.events if e["kind"] == "transcript"],
                "safety": self.last_safety,
                "because": next((because(e.get("appraisal") or {}) for e in reversed(self.events)
                                 if e["kind"] == "reply"), ""),  # the last reply's cause, for the live panel
            }

    @property
    def buffered_audio_s(self) -> float:
        """Microphone audio held, waiting for the end of speech."""
        with self._lock:
            return len(self._audio) / SAMPLE_RATE_HZ

    def timeline(self) -> list[dict]:
        with self._lock:
            return list(self.events)

    def report(self) -> dict:
        """Counters and the consent ledger as JSON-ready values (what the test and the counters endpoint read)."""
        with self._lock:
            return {"counters": dict(self.counters), "consent": self.consent.as_dict(),
                    "ledger": as_json(self.consent.ledger), "turns": len(self.turns),
                    "transcripts": [e["text"] for e in self.events if e["kind"] == "transcript"],
                    "face_label": top_label(self.last_face.probs) if self.last_face and self.last_face.confidence
                    else None, "problems": list(self.problems)}

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """Block until no spoken turn is pending (tests and benchmarks)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if self.busy_turns == 0:
                    return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        self._closed = True
        self._store("end", gate=False)  # the recorder closes its files (what it wrote stays until forgotten)
        if self._queue is not None:
            self._queue.put(None)
        with self._face_lock:
            analyzer, self._face_analyzer = self._face_analyzer, None
        _close(analyzer)


# --- the fusion tracker (fusion.fuse.FusionTracker) -----------------------------------------------------------

def _tracker_add(tracker: Any, modality: str, cue: Any, t_s: float) -> Any:
    """Give fusion the cue; the fused state at its time, or None when fusion did not keep it."""
    if not tracker.update(cue):
        return None
    return tracker.state(t_s)


def _tracker_enable(tracker: Any, modality: str, enabled: bool) -> None:
    if tracker is not None:
        tracker.set_enabled(modality, enabled)  # off also purges what fusion buffered of it


def _tracker_purge(tracker: Any, modality: str) -> None:
    if tracker is not None:
        tracker.set_enabled(modality, False)


def _tracker_state(tracker: Any, t_s: float) -> Any:
    return tracker.state(t_s)


# --- small helpers ---------------------------------------------------------------------------------------------

class _RememberingTextEmotion:
    """The text emotion model, remembering its last readings: the responder's appraisal asks about the same words
    the session has just read, and reading them again would double the encoder's share of the reply's wait."""

    REMEMBERED = 32

    def __init__(self, model: Any) -> None:
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


def _shift_transcript(transcripts: Iterable[Transcript], text: str, t_start_s: float, t_end_s: float) -> Transcript:
    """ASR times are relative to the utterance; the session's timeline wants session time."""
    words = tuple(
        type(w)(w.text, w.t_start_s + t_start_s, w.t_end_s + t_start_s, w.probability)
        for t in transcripts for w in t.words
    )
    confidences = [t.confidence for t in transcripts]
    language = next((t.language for t in transcripts), "en")
    return Transcript(text, words, language, t_start_s, t_end_s,
                      float(np.mean(confidences)) if confidences else 0.0)


def _close(thing: Any) -> None:
    close = getattr(thing, "close", None)
    if callable(close):
        try:
            close()
        except Exception:
            pass


def _not_a_number(cue: Any) -> bool:
    """A reading with a NaN or infinity in it (a broken model): it must not reach fusion, the screen or the record."""
    values = [getattr(cue, name, 0.0) for name in ("confidence", "valence", "arousal")]
    values += list((getattr(cue, "probs", None) or {}).values())
    try:
        return not all(np.isfinite(float(v)) for v in values)
    except (TypeError, ValueError):
        return True


def _one_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


# --- loading the models ---------------------------------------------------------------------------------------

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
            status[part] = f"unavailable: {_one_line(err)}"

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
        from agent.backends import LLMError, make_backend
        from agent.responder import Responder

        try:
            backend = make_backend(backend_kind, model=backend_model, url=backend_url, api_key=backend_api_key)
            llm_failed = ""
        except LLMError as err:  # a missing or corrupt model file: the person still gets (template) replies
            backend, llm_failed = None, _one_line(err)
        text_probs = None
        if models.text_emotion is not None:  # the appraisal reads the words with the same model the panel shows
            models.text_emotion = _RememberingTextEmotion(models.text_emotion)

            def text_probs(text: str) -> dict[str, float]:
                with models.locks["text"]:
                    return models.text_emotion.probs(text)
        models.responder = Responder(backend, text_emotion=text_probs)
        models.local_responder = Responder(None, text_emotion=text_probs)  # templates: nothing leaves the machine
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
