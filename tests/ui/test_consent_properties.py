"""Consent, proven over random sequences (hypothesis) against the real LiveSession on the real models.

Each example is a random sequence of toggle changes, webcam frames and microphone chunks (real speech, silence).
Media sent while its toggle is off is MARKED (a magenta frame, audio at a constant level no microphone gives), and
every model is wrapped to look at what it is handed, so a leak anywhere (the gate, a buffer kept across a revoke,
the recorder) shows up as a marked input at a model or in a file. Checked after every step:
- no frame or audio chunk reaches a model while its consent is off, and nothing marked ever reaches one;
- revoking purges the modality's buffers (audio buffer, last reading, its events, its fusion readings);
- the ledger holds every change, in order, and nothing else;
- nothing is written to disk without "store" consent, checked on the filesystem of a fresh data directory: no file
  before the first "store on", no byte added to any file while it is off, and no marked media in what was written.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.responder import Responder
from perception.audio import load_audio
from ui.session import LiveSession

pytestmark = pytest.mark.slow

CHUNK_S = 0.5
SR = 16000  # chunks at 16 kHz reach the models sample for sample, so a marked one is recognisable anywhere
MARK = 0.0123  # the level of marked audio
MARK_RUN = 200  # samples in a row at exactly that level: no microphone or codec gives this
EXAMPLES = 12

from ui import recorder as recorder_module  # noqa: E402  (a broken recorder must fail this suite, not skip it)


class Watch:
    """What reached the models, and any violation seen at the moment of the call."""

    def __init__(self):
        self.session: LiveSession | None = None
        self.calls = {"face": 0, "vad": 0, "asr": 0, "prosody": 0}
        self.violations: list[str] = []

    def saw(self, model: str, consent: str, marked: bool) -> None:
        self.calls[model] += 1
        if not self.session.consent.allows(consent):
            self.violations.append(f"{model} called while {consent} consent was off")
        if marked:
            self.violations.append(f"{model} was handed media sent without consent")


def marked_audio(audio: np.ndarray) -> bool:
    hits = np.isclose(np.asarray(audio, dtype=np.float32), MARK, atol=1e-6)
    if hits.sum() < MARK_RUN:
        return False
    runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[0], hits.astype(np.int8), [0]]))))[::2]
    return bool(runs.size and runs.max() >= MARK_RUN)


def marked_frame(rgb: np.ndarray) -> bool:
    rgb = np.asarray(rgb, dtype=np.int16)
    magenta = (rgb[..., 0] > 200) & (rgb[..., 1] < 60) & (rgb[..., 2] > 200)
    return magenta.mean() > 0.5


def watched_models(real, watch: Watch):
    def new_face_analyzer():
        analyzer = real.new_face_analyzer()

        class Watched:
            def analyze(self, rgb, t_s):
                watch.saw("face", "camera", marked_frame(rgb))
                return analyzer.analyze(rgb, t_s)

            def close(self):
                analyzer.close()

        return Watched()

    def speech_segments(audio):
        watch.saw("vad", "microphone", marked_audio(audio))
        return real.speech_segments(audio)

    class ASR:
        def transcribe(self, audio, sample_rate_hz):
            watch.saw("asr", "microphone", marked_audio(audio))
            return real.asr.transcribe(audio, sample_rate_hz)

    def extract_prosody(audio, *args):
        watch.saw("prosody", "microphone", marked_audio(audio))
        return real.extract_prosody(audio, *args)

    return dataclasses.replace(real, new_face_analyzer=new_face_analyzer, speech_segments=speech_segments, asr=ASR(),
                               extract_prosody=extract_prosody, responder=Responder(None), locks=real.locks)


@pytest.fixture(scope="module")
def media(browser_media):
    from PIL import Image

    face = np.asarray(Image.open(browser_media["png"]).convert("RGB"))
    magenta = np.zeros_like(face)
    magenta[..., 0] = magenta[..., 2] = 255
    speech = load_audio(browser_media["wav"], SR)
    step = int(CHUNK_S * SR)
    speech_chunks = [speech[i:i + step] for i in range(0, len(speech) - step + 1, step)]
    return {"face": face, "magenta": magenta, "speech": speech_chunks,
            "silence": np.zeros(step, dtype=np.float32), "marked": np.full(step, MARK, dtype=np.float32)}


ACTIONS = st.lists(st.one_of(
    st.tuples(st.just("consent"), st.sampled_from(["camera", "microphone", "store"]), st.booleans()),
    st.tuples(st.just("frame"), st.just(""), st.just(True)),
    st.tuples(st.just("speech"), st.just(""), st.just(True)),
    st.tuples(st.just("silence"), st.integers(1, 3).map(str), st.just(True)),
), min_size=1, max_size=16)


def files_of(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def check_purged(session: LiveSession, name: str) -> None:
    modality = {"camera": "face", "microphone": "voice"}.get(name)
    if modality is None:
        return
    kinds = {e["kind"] for e in session.timeline()}
    assert modality not in kinds
    assert not session._tracker._readings[modality]  # fusion forgot what it buffered
    assert modality not in [v.modality for v in (session.state.contributions if session.state else ())]
    if name == "camera":
        assert session.last_face is None and session._face_analyzer is None
    else:
        assert session.last_prosody is None and session.buffered_audio_s == 0.0


def run_sequence(real, media, data_dir: Path, actions) -> Watch:
    watch = Watch()
    clock = Clock()
    recorder = recorder_module.SessionRecorder(data_dir)
    session = LiveSession(watched_models(real, watch), clock=clock, on_store=recorder)
    watch.session = session
    expected_ledger: list[tuple[str, bool]] = []
    consent = {"camera": False, "microphone": False, "store": False}
    speech_at = 0
    sizes_when_stored_off: dict[str, int] | None = {}
    try:
        for kind, arg, _ in actions:
            clock.t += CHUNK_S
            if kind == "consent":
                changed = session.set_consent(arg, _)
                assert changed == (consent[arg] != _)
                if changed:
                    expected_ledger.append((arg, _))
                    consent[arg] = _
                    if not _:
                        check_purged(session, arg)
            elif kind == "frame":
                session.on_frame(media["face"] if consent["camera"] else media["magenta"], t_s=clock.t)
            else:
                if consent["microphone"]:
                    chunks = [media["speech"][speech_at % len(media["speech"])]] if kind == "speech" \
                        else [media["silence"]] * int(arg)
                    speech_at += kind == "speech"
                else:
                    chunks = [media["marked"]] * (1 if kind == "speech" else int(arg))
                for chunk in chunks:
                    session.on_audio_chunk(chunk, SR, t_s=clock.t)
                    clock.t += CHUNK_S
            assert watch.violations == []
            assert [(c.name, c.granted) for c in session.consent.ledger] == expected_ledger
            times = [c.t_s for c in session.consent.ledger]
            assert times == sorted(times)
            # the filesystem: nothing before the first "store on"; nothing added while it is off
            on_disk = files_of(data_dir) if data_dir.exists() else {}
            if consent["store"]:
                sizes_when_stored_off = None
            elif sizes_when_stored_off is None:
                sizes_when_stored_off = on_disk  # just turned off: what is there now must stay as it is
            else:
                assert on_disk == sizes_when_stored_off, "written while store consent was off"
        session.end_audio()
        assert watch.violations == []
        recorder.end()  # close what is open, so the last fragment of the video is on disk to be read back
        stored_audio = list(data_dir.rglob("audio.wav"))
        for path in stored_audio:
            assert not marked_audio(load_audio(path, SR)), f"{path} holds audio sent without consent"
        for path in data_dir.rglob("video.mp4"):
            from perception.video import sample_frames

            assert not any(marked_frame(rgb) for _, rgb in sample_frames(path, fps=5.0)), path
        if not any(kind == "consent" and name == "store" and on for kind, name, on in actions):
            assert not data_dir.exists() or files_of(data_dir) == {}
    finally:
        session.close()
        recorder.end()
    return watch


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(actions=ACTIONS)
def test_random_consent_sequences_keep_every_promise(models, media, tmp_path_factory, actions):
    run_sequence(models, media, tmp_path_factory.mktemp("data") / "sessions", actions)


def test_a_sequence_that_exercises_every_path(models, media, tmp_path):
    """One fixed sequence, so every promise is checked on a path known to reach the models and the disk."""
    actions = [("consent", "camera", True), ("frame", "", True), ("consent", "microphone", True),
               ("consent", "store", True)] + [("speech", "", True)] * 6 + [("silence", "3", True),
               ("frame", "", True), ("consent", "microphone", False), ("speech", "", True),
               ("consent", "store", False), ("frame", "", True), ("silence", "2", True),
               ("consent", "camera", False), ("frame", "", True), ("consent", "store", True), ("frame", "", True),
               ("consent", "camera", True), ("frame", "", True)]
    watch = run_sequence(models, media, tmp_path / "sessions", actions)
    assert watch.calls["face"] >= 3 and watch.calls["vad"] >= 6 and watch.calls["asr"] >= 1
    assert watch.calls["prosody"] >= 1
    stored = sorted(p.name for p in (tmp_path / "sessions").rglob("*") if p.is_file())
    assert "audio.wav" in stored and "video.mp4" in stored and "consent.jsonl" in stored
    assert len([p for p in (tmp_path / "sessions").iterdir() if p.is_dir()]) == 2  # store on twice: two folders


@pytest.mark.parametrize("broken", ["gate", "purge"])
def test_the_checks_catch_a_broken_session(models, media, tmp_path, monkeypatch, broken):
    """The same checks on a session with its gate (or its purge) taken out must fail: they are not vacuous."""
    from ui import session as session_module

    if broken == "gate":
        monkeypatch.setattr(session_module.ConsentState, "allows", lambda self, name: True)
        actions = [("frame", "", True)]
    else:
        monkeypatch.setattr(session_module.LiveSession, "_purge", lambda self, name: None)
        actions = [("consent", "camera", True), ("frame", "", True), ("consent", "camera", False)]
    with pytest.raises(AssertionError):
        run_sequence(models, media, tmp_path / "sessions", actions)


@settings(max_examples=300, deadline=None, database=None)
@given(session_id=st.one_of(st.text(max_size=90), st.sampled_from(
    ["..", ".", "../x", "a/../../b", "/etc", "~root", "a\x00b", "ok-id_1", "x" * 81, "CON", " a", "a\n"])))
def test_a_session_id_never_names_anything_outside_the_data_directory(tmp_path_factory, session_id):
    root = tmp_path_factory.getbasetemp() / "ids"
    root.mkdir(exist_ok=True)
    try:
        folder = recorder_module.session_dir(root, session_id)
    except ValueError as err:
        assert "\n" not in str(err)
        return
    assert folder.parent == root.resolve() and folder.name == session_id
