"""The stages of the live pipeline on their own, with stand-in models (the session tests run them on real ones)."""

from __future__ import annotations

import math
import threading

import numpy as np

from agent.contracts import Appraisal, Reply
from fusion.fuse import FusionTracker
from perception.cues import FaceCues, ProsodyCues, TextEmotion
from ui.pipeline.analyzers import FaceReader, Read, call_model, read_cue
from ui.pipeline.consent import ConsentState
from ui.pipeline.events import AudioChunk, FaceEvent, Frame, ReplyEvent, StateEvent, TimedCue, Words
from ui.pipeline.fusion_stage import FusionStage
from ui.pipeline.models import SessionModels
from ui.pipeline.recorder_stage import RecorderStage
from ui.pipeline.timeline import Timeline
from ui.pipeline.turn_taking import TurnTaking

PROBS = {"anger": 0.05, "disgust": 0.05, "fear": 0.05, "joy": 0.6, "neutral": 0.15, "sadness": 0.05, "surprise": 0.05}


def text_reading(t_s: float = 1.0, valence: float = 0.5) -> TextEmotion:
    return TextEmotion("I passed!", dict(PROBS), valence, 0.2, t_s, t_s, 0.8, "stand-in")


def test_read_cue_runs_the_model_under_its_lock_and_drops_failures_and_nan():
    lock = threading.Lock()
    seen_locked = []

    def model() -> TextEmotion:
        seen_locked.append(lock.locked())
        return text_reading()

    assert read_cue("text", model, failed="text emotion failed", lock=lock).value is not None and seen_locked == [True]
    broken = read_cue("text", lambda: text_reading(valence=math.nan), failed="text emotion failed")
    assert broken == Read(None, "text reading was not a number (NaN): left out of fusion")

    def raises() -> TextEmotion:
        raise RuntimeError("weights missing\nsecond line")

    assert read_cue("text", raises, failed="text emotion failed").problem == "text emotion failed: weights missing"
    assert call_model(lambda: [], failed="x").value == []  # a list is no reading: no NaN check


def test_events_keep_the_stored_shape():
    face = FaceEvent(1.23456, None, 0.0, dict(PROBS), 0.0, 0.0, "no face")
    assert face.to_dict() == {"kind": "face", "t_s": 1.235, "label": None, "confidence": 0.0, "probs": PROBS,
                              "valence": 0.0, "arousal": 0.0, "reason": "no face"}
    reply = Reply("Hi.", Appraisal("joy", 0.5, "", "celebration"), "fallback", "none", "none", 0.1, status=("a",))
    stored = ReplyEvent.of(reply, 2.0).to_dict()
    assert stored["status"] == ["a"] and stored["appraisal"]["emotion"] == "joy" and list(stored)[:2] == ["kind", "t_s"]


def test_fusion_stage_starts_with_gated_modalities_off_and_purges_them():
    fusion = FusionStage(FusionTracker, lambda message: None)
    voice = ProsodyCues(0.0, 1.0, 0.9, {}, {}, dict(PROBS), 0.5, 0.2)
    assert fusion.process(TimedCue(voice, 1.0)) == []  # the microphone is off until consent says otherwise
    fusion.enable("voice", True)
    (state,) = fusion.process(TimedCue(voice, 1.0))
    assert state.label == "joy" and StateEvent.of(state, 1.0).to_dict()["kind"] == "state"
    fusion.purge("voice")
    assert fusion.state_at(1.0).confidence == 0


def test_turn_taking_cuts_an_utterance_after_the_silence_and_forgets_on_purge():
    lock = threading.RLock()
    counted = []
    turns = TurnTaking(lambda audio: [(0.5, 1.0)], lock, lambda problem: None, counted.append)
    assert turns.process(AudioChunk(np.zeros(16000, dtype=np.float32), 10.0)) == []  # speech not over yet
    (utterance,) = turns.process(AudioChunk(np.zeros(16000, dtype=np.float32), 11.0))  # 1 s of silence after it
    assert math.isclose(utterance.t_start_s, 10.35) and math.isclose(utterance.t_end_s, 11.15)
    assert counted == [1]
    turns.buffer(AudioChunk(np.zeros(8000, dtype=np.float32), 12.0))
    turns.purge("voice")
    assert turns.buffered_s == 0


def test_the_recorder_stage_writes_only_while_store_is_on_and_says_when_it_fails():
    consent, written, problems = ConsentState(), [], []
    recorder = RecorderStage(written.append, consent, problems.append)
    recorder.process({"kind": "text", "t_s": 0.0})
    consent.set("store", True, 0.0)
    recorder.process({"kind": "text", "t_s": 1.0})
    assert written == [{"kind": "text", "t_s": 1.0}]

    def full_disk(event: dict) -> None:
        raise OSError("No space left on device")

    RecorderStage(full_disk, consent, problems.append).process({"kind": "text", "t_s": 2.0})
    assert problems == ["recording failed: No space left on device"]


def test_the_timeline_drops_a_modality_and_the_states_since_its_consent():
    timeline = Timeline()
    for kind, t_s, extra in (("state", 0.5, {}), ("consent", 1.0, {"name": "camera", "granted": True}),
                             ("face", 1.5, {}), ("state", 1.5, {})):
        timeline.events.append({"kind": kind, "t_s": t_s, **extra})
    timeline.drop_kind("face")
    timeline.drop_states_since_granted("camera")
    assert [(e["kind"], e["t_s"]) for e in timeline.events] == [("state", 0.5), ("consent", 1.0)]


def test_session_models_default_to_nothing_loaded():
    models = SessionModels()
    assert models.asr is None and set(models.locks) == {"asr", "text", "prosody", "responder"}
    assert Words("text", "hi", 0.0, 0.0).source == "text"


def test_turns_dropped_when_the_microphone_is_revoked_are_no_longer_busy():
    # a purge used to empty the queue and leave its turns counted: `busy` stayed true and wait_idle hung
    from ui.pipeline.events import Utterance
    from ui.pipeline.worker import TurnWorker

    started, release, ran = threading.Event(), threading.Event(), []

    def run_turn(utterance: Utterance) -> None:
        started.set()
        release.wait(10)
        ran.append(utterance.t_start_s)

    worker = TurnWorker(run_turn, Timeline())
    for t in (0.0, 1.0, 2.0):
        worker.process(Utterance(np.zeros(1600, dtype=np.float32), t, t + 0.5, 0.0))
    assert started.wait(10)
    worker.purge("voice")
    assert worker.busy_turns == 1  # the running turn only
    release.set()
    for _ in range(100):
        if worker.busy_turns == 0:
            break
        threading.Event().wait(0.05)
    assert worker.busy_turns == 0 and ran == [0.0]
    worker.close()


def test_face_reader_slows_live_frames_while_a_turn_is_worked_out_and_never_in_replay():
    class StandInFace:
        def analyze(self, rgb: np.ndarray, t_s: float) -> FaceCues:
            return FaceCues(t_s, t_s, 0.9, dict(PROBS), 0.5, 0.2)

    consent = ConsentState()
    consent.set("camera", True, 0.0)
    turn = [False]
    frame = np.zeros((4, 4, 3), dtype=np.uint8)

    def analysed(reader: FaceReader, wait: bool = False) -> int:  # frames at 10 per second over 2 s
        return sum(len(reader.process(Frame(frame, i / 10, wait))) for i in range(20))

    def reader(drop_while_busy: bool) -> FaceReader:
        return FaceReader(SessionModels(new_face_analyzer=StandInFace), consent, Timeline(),
                          drop_while_busy=drop_while_busy, min_interval_s=0.0, interval_while_turn_s=0.5,
                          turn_in_progress=lambda: turn[0])

    assert analysed(reader(True)) == 20  # no turn: every frame
    turn[0] = True
    live = reader(True)
    assert analysed(live) == 4 and live.interval_s() == 0.5  # a turn: two frames a second
    assert analysed(reader(False)) == 20 and analysed(reader(True), wait=True) == 20  # replay, a chosen photo
    turn[0] = False
    assert live.interval_s() == 0.0
