"""One conversation with the agent, live or replayed: consent gate -> perception -> fusion -> responder.

Plain Python, no web framework: the Gradio app (ui/app.py) feeds it from the browser, and replay feeds the very same
class from files. `LiveSession` is the front: it links the stages of ui/pipeline/ (consent gate, turn taking, the
analyzers, fusion, responder, timeline and recorder) and holds what belongs to one person's conversation (the chat,
the last readings, the state); `SessionModels` holds what can be shared between sessions (the loaded models).

Consent is enforced here, at the edge: `on_frame` and `on_audio_chunk` drop what arrives without consent before any
model sees it (and count it as dropped); revoking a toggle purges what every stage holds of that modality and tells
fusion to forget its cues. Turn-taking is by voice activity: once speech has been followed by
`END_OF_SPEECH_SILENCE_S` of silence the utterance goes through ASR -> text emotion + prosody -> fusion -> responder.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.contracts import Reply
from agent.openers import is_opener
from basics.audio import SAMPLE_RATE_HZ  # what VAD, ASR and prosody expect
from basics.labels import top_label
from fusion.state import EmotionState
from perception.cues import FaceCues, ProsodyCues, TextEmotion, Transcript, as_json
from ui.pipeline.analyzers import FaceReader, Transcriber, VoiceReader, WordsReader
from ui.pipeline.consent import CONSENT_MODALITIES, CONSENT_NAMES, ConsentChange, ConsentState
from ui.pipeline.events import (
    AudioChunk,
    ConsentEvent,
    FaceEvent,
    Frame,
    ReplyEvent,
    StateEvent,
    TextEvent,
    TimedCue,
    TimelineEvent,
    TranscriptEvent,
    Utterance,
    VoiceEvent,
    Words,
)
from ui.pipeline.fusion_stage import FusionStage
from ui.pipeline.models import VAD_MIN_SILENCE_MS, SessionModels, load_models
from ui.pipeline.recorder_stage import RecorderStage
from ui.pipeline.responder_stage import Prompt, ResponderStage
from ui.pipeline.stage import Stage, one_line
from ui.pipeline.timeline import MAX_EVENTS, MAX_PROBLEMS, Timeline
from ui.pipeline.turn_taking import (
    END_OF_SPEECH_SILENCE_S,
    IDLE_KEEP_S,
    MAX_UTTERANCE_S,
    MIN_UTTERANCE_S,
    UTTERANCE_PAD_S,
    TurnTaking,
)
from ui.pipeline.worker import TurnWorker
from ui.report import because

__all__ = [  # what callers import from here (the stages' own modules hold the rest)
    "CONSENT_MODALITIES", "CONSENT_NAMES", "END_OF_SPEECH_SILENCE_S", "FACE_INTERVAL_WHILE_TURN_S",
    "FACE_MIN_INTERVAL_S", "IDLE_KEEP_S", "MAX_EVENTS", "MAX_PROBLEMS", "MAX_UTTERANCE_S", "MIN_UTTERANCE_S",
    "UTTERANCE_PAD_S", "VAD_MIN_SILENCE_MS", "ConsentChange", "ConsentState", "LiveSession", "SessionModels",
    "Turn", "load_models",
]

FACE_MIN_INTERVAL_S = 0.0  # 0: analyse every frame the CPU can keep up with; busy frames are dropped
# Live, while a turn is worked out (speech-to-text, the reply), the face at 2 frames a second: on 2 cores the face at
# full rate took the CPU the reply needs (`empathic bench --only demo` measures both rates and the reply's wait)
FACE_INTERVAL_WHILE_TURN_S = 0.5


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
    state: EmotionState | None
    reply: Reply | None
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
                 face_min_interval_s: float = FACE_MIN_INTERVAL_S,
                 face_interval_while_turn_s: float = FACE_INTERVAL_WHILE_TURN_S,
                 clock: Callable[[], float] = time.monotonic,
                 on_store: Callable[[dict], None] | None = None, history_turns: int = 6):
        self.models = models
        self.consent = ConsentState()
        self.background_turns = background_turns
        self.history_turns = history_turns
        self._clock = clock
        self._t0 = clock()
        self._timeline = Timeline()  # events, counters, problems, version, and the lock over the session's data
        self._lock = self._timeline.lock
        self.turns: list[Turn] = []
        self.chat: list[dict[str, str]] = []  # {"role": "user"|"assistant", "content": ...}
        self.partial_reply: str = ""  # the reply being written (the screen shows only the checked reply)
        # the reply's opener (agent/openers.py), shown at once: every attempt and the fallback start with it, so it is
        # never taken back
        self.reply_opening: str = ""
        self.pending_user_text: str = ""  # what the person said, shown as soon as ASR knows it, before the turn
        self.replying = False  # a reply is being worked out (the screen shows "thinking")
        self.last_face: FaceCues | None = None
        self.last_safety: tuple[str, str] = ("none", "")  # the last reply's safety level and reason, for the panel
        self.last_text_emotion: TextEmotion | None = None
        self.last_prosody: ProsodyCues | None = None
        self.state: EmotionState | None = None
        self._turn_lock = threading.Lock()  # one turn at a time (typed and spoken turns share the conversation)
        # The stages, in the order a purge and a close reach them (the recorder's "end" first).
        self.recorder = RecorderStage(on_store, self.consent, self._problem)
        self.turn_taking = TurnTaking(models.speech_segments, self._lock, self._problem,
                                      lambda n: self._timeline.count("utterances", n),
                                      models.status.get("vad", "not loaded"))
        self.worker = TurnWorker(self._voice_turn, self._timeline)
        self.face_reader = FaceReader(models, self.consent, self._timeline, drop_while_busy=drop_frames_while_busy,
                                      min_interval_s=face_min_interval_s,
                                      interval_while_turn_s=face_interval_while_turn_s,
                                      turn_in_progress=self.turn_in_progress)
        self.transcriber = Transcriber(models, self._timeline)
        self.voice_reader = VoiceReader(models, self.consent, self._lock)
        self.words_reader = WordsReader(models)
        self.fusion = FusionStage(models.new_tracker, self._problem)
        self.responder = ResponderStage(models, self.consent)
        self.stages: tuple[Stage[Any, Any], ...] = (
            self.recorder, self.turn_taking, self.worker, self.transcriber, self.voice_reader, self.words_reader,
            self.face_reader, self.fusion, self.responder)

    # --- what callers and tests read, kept where they always were ------------------------------------------------

    @property
    def events(self) -> deque[dict]:
        return self._timeline.events

    @property
    def counters(self) -> dict[str, int]:
        return self._timeline.counters

    @property
    def problems(self) -> list[str]:
        return self._timeline.problems

    @property
    def version(self) -> int:
        """Bumped on every change the UI would show."""
        return self._timeline.version

    @property
    def on_store(self) -> Callable[[dict], None] | None:
        """The recorder (ui/recorder.py): called with every event only while "store" is on."""
        return self.recorder.hook

    @on_store.setter
    def on_store(self, hook: Callable[[dict], None] | None) -> None:
        self.recorder.hook = hook

    @property
    def busy_turns(self) -> int:
        return self.worker.busy_turns

    def turn_in_progress(self) -> bool:
        """A spoken turn is queued or running, or a reply is being written (read without the lock: a stale
        answer only shifts when the face slows by a frame)."""
        return self.worker.busy_turns > 0 or self.replying

    @property
    def drop_frames_while_busy(self) -> bool:
        return self.face_reader.drop_while_busy

    @property
    def face_min_interval_s(self) -> float:
        return self.face_reader.min_interval_s

    @property
    def _tracker(self) -> Any:
        return self.fusion.tracker

    @property
    def _face_analyzer(self) -> Any:
        return self.face_reader.analyzer

    # --- time and events -------------------------------------------------------------------------------------

    def now_s(self) -> float:
        return self._clock() - self._t0

    def _emit(self, event: TimelineEvent) -> None:
        self.recorder.process(self._timeline.add(event))

    def _store(self, what: str, *args: Any, gate: bool = True) -> None:
        self.recorder.store(what, *args, gate=gate)

    def _problem(self, message: str) -> None:
        self._timeline.problem(message)

    def _changed(self) -> None:
        self._timeline.changed()

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
        self._emit(ConsentEvent(t_s, name, bool(granted)))
        if not granted:
            self._purge(name)
        for modality in CONSENT_MODALITIES.get(name, ()):
            self.fusion.enable(modality, bool(granted))
        return True

    def _purge(self, name: str) -> None:
        modalities = CONSENT_MODALITIES.get(name, ())
        with self._lock:
            self._timeline.count("purges")
            if "face" in modalities:
                self.last_face = None
                self._timeline.drop_kind("face")
                self._timeline.drop_states_since_granted(name)  # fused states that used the face are face data too
            if "voice" in modalities:
                self.last_prosody = None
                self.pending_user_text = ""
                self._timeline.drop_kind("voice")
            self._changed()
        for modality in modalities:  # outside the session's lock: a frame in analysis holds the face's, then wants it
            for stage in self.stages:  # buffers, the voice baseline, queued utterances, fusion, the face tracker
                stage.purge(modality)
        with self._lock:
            self.state = self.fusion.state_at(self.now_s())
            state = self.state
        if state is not None and state.confidence > 0:  # the timeline shows the state without it from now on
            self._emit(StateEvent.of(state, self.now_s()))

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
        read = self.face_reader.process(Frame(frame, t_s, wait))
        if not read:
            return None
        cues = read[0]
        with self._lock:
            if not self.consent.allows("camera"):  # revoked during analysis: keep nothing
                return None
            self.counters["frames_analyzed"] += 1
            if cues.confidence > 0:
                self.counters["faces_found"] += 1
            self.last_face = cues
        self._fuse(cues, t_s)  # a frame without a face is not kept by fusion
        self._emit(FaceEvent.of(cues, t_s))
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
            chunk = self.turn_taking.to_16k(samples, int(sample_rate_hz))
        except Exception as err:
            self._problem(one_line(err))
            return []
        if t_s is None:
            t_s = self.now_s() - len(chunk) / SAMPLE_RATE_HZ
        with self._lock:
            if not self.consent.allows("microphone"):
                self.counters["audio_chunks_dropped_no_consent"] += 1
                return []
            self.counters["audio_chunks_processed"] += 1
            self.turn_taking.buffer(AudioChunk(chunk, float(t_s)))
        self._store("audio", chunk, float(t_s))
        return self._dispatch(self.turn_taking.cut(final=False), inline)

    @property
    def buffered_audio_s(self) -> float:
        """Microphone audio held, waiting for the end of speech."""
        return self.turn_taking.buffered_s

    def end_audio(self, inline: bool | None = None) -> list[Turn]:
        """The microphone stopped (or the file ended): whatever speech is buffered becomes a turn."""
        return self._dispatch(self.turn_taking.end(), inline)

    def _dispatch(self, utterances: Sequence[Utterance], inline: bool | None = None) -> list[Turn]:
        if not utterances:
            return []
        if (not self.background_turns) if inline is None else inline:
            return [t for t in (self._voice_turn(u) for u in utterances) if t is not None]
        for utterance in utterances:
            self.worker.process(utterance)
        return []

    def _voice_turn(self, utterance: Utterance) -> Turn | None:
        if not self.consent.allows("microphone"):  # revoked while it waited: it is microphone data
            return None
        heard = self.transcriber.process(utterance)
        if not heard:
            return None
        text, transcript = heard[0].text, heard[0].transcript
        t_start_s, t_end_s = utterance.t_start_s, utterance.t_end_s
        with self._lock:
            self.pending_user_text = text  # on screen now, while prosody, fusion and the reply are worked out
        self._emit(TranscriptEvent(t_end_s, text, t_start_s, t_end_s))
        problems: list[str] = []
        read = self.voice_reader.process(utterance, heard[0].voice_states)[0]
        if read.problem:
            problems.append(read.problem)
        prosody = read.value
        if prosody is not None:
            with self._lock:
                self.last_prosody = prosody
            self._fuse(prosody, t_end_s)
            self._emit(VoiceEvent.of(prosody, t_end_s))
        return self._turn(Words("voice", text, t_start_s, t_end_s), transcript, prosody, problems,
                          utterance.speech_ended_at)

    # --- typed text and uploads ------------------------------------------------------------------------------

    def on_text(self, text: str, on_token: Callable[[str], None] | None = None) -> Turn | None:
        """A typed message. Runs the turn now and returns it (None for empty text)."""
        text = (text or "").strip()
        if not text:
            return None
        t_s = self.now_s()
        return self._turn(Words("text", text, t_s, t_s), None, None, [], None, on_token=on_token)

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

    def _turn(self, words: Words, transcript: Transcript | None, prosody: ProsodyCues | None, problems: list[str],
              ended_at: float | None, on_token: Callable[[str], None] | None = None) -> Turn:
        source, text, t_start_s, t_end_s = words.source, words.text, words.t_start_s, words.t_end_s
        with self._turn_lock:
            read = self.words_reader.process(words)[0]
            if read.problem:
                problems.append(read.problem)
            text_emotion = read.value
            if text_emotion is not None:
                with self._lock:
                    self.last_text_emotion = text_emotion
                self._fuse(text_emotion, t_end_s)
                self._emit(TextEvent.of(text_emotion, t_end_s, source, text))
            with self._lock:
                self.chat.append({"role": "user", "content": text})
                self.pending_user_text = ""
                self.replying = True
                self.partial_reply = ""
                self.reply_opening = ""
                self.counters["turns"] += 1
                self._changed()
                state = self.state
                history = tuple((m["role"], m["content"]) for m in self.chat[:-1][-2 * self.history_turns:]
                                if not m["content"].startswith("(no reply"))
                responder = self.responder.choose()

            def restart() -> None:  # the reply check rejected what streamed; the next attempt starts afresh
                with self._lock:
                    self.partial_reply = ""
                    self._changed()

            def stream_token(piece: str) -> None:
                with self._lock:
                    if not self.partial_reply and not self.reply_opening and is_opener(piece):
                        self.reply_opening = piece
                    self.partial_reply += piece
                    self._changed()
                if on_token is not None:
                    on_token(piece)

            answer = self.responder.process(Prompt(text, state, history, responder, stream_token, restart))[0]
            reply = answer.value
            if answer.problem:
                problems.append(answer.problem)
            speech_end_to_reply_s = time.perf_counter() - ended_at if ended_at is not None else None
            with self._lock:
                self.partial_reply = ""
                self.reply_opening = ""
                self.replying = False
                if reply is not None:
                    self.last_safety = (reply.appraisal.safety_level, reply.appraisal.safety_reason)
                    self.chat.append({"role": "assistant", "content": reply.text})
                    self.counters["replies"] += 1
                else:
                    why = [p for p in problems if p.startswith(("reply", "responder"))] or problems
                    self.chat.append({"role": "assistant", "content": "(no reply: " + "; ".join(why) + ")"})
                self._changed()
            if reply is not None:
                self._emit(ReplyEvent.of(reply, self.now_s()))
                # the LLM failed but the person got a template reply: the status line says what failed
                problems += [s for s in reply.status if s.startswith(("LLM failed", "LLM appraisal failed"))]
            for message in problems:
                self._problem(message)
            turn = Turn(source, text, t_start_s, t_end_s, transcript, text_emotion, prosody, state, reply,
                        speech_end_to_reply_s, tuple(problems))
            with self._lock:
                self.turns.append(turn)
            return turn

    def _fuse(self, cue: TextEmotion | ProsodyCues | FaceCues, t_s: float) -> None:
        """Give fusion the reading; the state it gives goes on the timeline (before the reading's own event)."""
        with self._lock:
            states = self.fusion.process(TimedCue(cue, t_s))
            if states:
                self.state = states[-1]
        if states:
            self._emit(StateEvent.of(states[-1], t_s))

    # --- reading it out --------------------------------------------------------------------------------------

    def refresh_state(self) -> bool:
        """Re-fuse at the present moment, so readings that have gone quiet (the camera stopped, the last words
        were long ago) fade from the state; True when the state changed enough to show."""
        if self.fusion.tracker is None:
            return False
        with self._lock:
            try:
                state = self.fusion.state_at(self.now_s())
            except Exception as err:
                self._problem(f"fusion failed: {one_line(err)}")
                return False
            assert state is not None, "there is a tracker"
            old = self.state
            if old is not None and state.label == old.label and abs(state.confidence - old.confidence) < 0.05:
                return False
            if old is None and state.confidence <= 0:
                return False
            self.state = state
            self._changed()
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
                "reply_opening": self.reply_opening,
                "pending_user_text": self.pending_user_text,
                "replying": self.replying,
                "busy": self.busy_turns > 0,
                "problems": list(self.problems),
                "transcripts": [e["text"] for e in self.events if e["kind"] == "transcript"],
                "safety": self.last_safety,
                "because": next((because(e.get("appraisal") or {}) for e in reversed(self.events)
                                 if e["kind"] == "reply"), ""),  # the last reply's cause, for the live panel
            }

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
        for stage in self.stages:  # the recorder closes its files, the worker stops, the face tracker is closed
            stage.close()
