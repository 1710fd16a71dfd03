"""The session recorder: only with "store" consent (checked on the filesystem), crash-safe files, forget, ids."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from ui import recorder as rec
from ui.recorder import SessionRecorder, check_session_id, forget_session, list_sessions, session_dir
from ui.session import LiveSession

REPO = Path(__file__).resolve().parents[2]
SAMPLE_SESSION = REPO / "samples" / "session_demo"


def _face_frame() -> np.ndarray:
    import skimage.data
    from PIL import Image

    frame = Image.new("RGB", (320, 240), (60, 60, 60))
    frame.paste(Image.fromarray(skimage.data.astronaut()).resize((240, 240)), (40, 0))
    return np.asarray(frame)


def _quiet_noise(seconds: float) -> np.ndarray:
    return (np.random.default_rng(0).standard_normal(int(seconds * 16000)) * 0.002).astype(np.float32)


def _all_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*")] if folder.exists() else []


def test_nothing_is_written_without_store_consent_and_everything_with_it(models, tmp_path):
    data = tmp_path / "sessions"
    recorder = SessionRecorder(data, meta={"test": True})
    now = [0.0]
    session = LiveSession(models, on_store=recorder, clock=lambda: now[0])
    frame = _face_frame()
    session.set_consent("camera", True)
    session.set_consent("microphone", True)
    for i in range(4):
        session.on_frame(frame, t_s=i * 0.2)
        session.on_audio_chunk(_quiet_noise(0.25), 16000, t_s=i * 0.25)
    assert session.counters["frames_analyzed"] == 4 and session.counters["audio_chunks_processed"] == 4
    assert _all_files(data) == [], "store is off: nothing may reach the disk"

    now[0] = 1.0  # session time when storing begins: the media are placed from here
    session.set_consent("store", True)
    for i in range(4, 12):
        session.on_frame(frame, t_s=i * 0.2)
        session.on_audio_chunk(_quiet_noise(0.25), 16000, t_s=i * 0.25)
    session.set_consent("camera", False)
    session.set_consent("store", False)
    session.on_audio_chunk(_quiet_noise(0.25), 16000, t_s=3.0)  # after store went off: not written
    folder = recorder.path
    assert folder is not None and folder.parent == data.resolve()
    assert sorted(p.name for p in folder.iterdir()) == ["audio.wav", "consent.jsonl", "events.jsonl", "meta.json",
                                                        "video.mp4"]
    ledger = [json.loads(line) for line in (folder / "consent.jsonl").read_text().splitlines()]
    assert [(c["name"], c["granted"]) for c in ledger] == [("camera", True), ("microphone", True), ("store", True),
                                                           ("camera", False), ("store", False)]
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["test"] is True and meta["session_id"] == folder.name and meta["ended_utc"]
    assert "model_files" not in meta or meta["model_files"]  # given meta is kept as is
    events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    assert {e["kind"] for e in events} >= {"face", "consent"}
    assert all(e["t_s"] >= 0.8 - 1e-6 for e in events if e["kind"] == "face"), "frames before store leaked"
    assert meta["t0_s"] == 1.0
    with wave.open(str(folder / "audio.wav")) as wav:
        # 8 chunks of 0.25 s from 1.0 s, the store-on time: 2 s of audio
        assert wav.getframerate() == 16000 and abs(wav.getnframes() / 16000 - 2.0) < 0.3
    from perception.video import sample_frames

    assert 3 <= len(list(sample_frames(folder / "video.mp4", fps=10))) <= 8

    assert recorder.forget()
    assert not folder.exists() and list_sessions(data) == []


def test_forget_from_the_command_line_and_list(tmp_path, capsys):
    from ui.cli import main

    data = tmp_path / "d"
    copy = data / "session_demo"
    shutil.copytree(SAMPLE_SESSION, copy)
    assert main(["sessions", "list", "--data-dir", str(data)]) == 0
    out = capsys.readouterr().out
    assert "session_demo" in out and "audio.wav" in out
    assert main(["sessions", "forget", "../d", "--data-dir", str(data)]) == 2
    assert "not a session id" in capsys.readouterr().err and copy.exists()
    assert main(["sessions", "forget", "session_demo", "--data-dir", str(data)]) == 0
    assert not copy.exists()
    assert main(["sessions", "forget", "session_demo", "--data-dir", str(data)]) == 2
    assert "no session" in capsys.readouterr().err


def test_the_data_dir_comes_from_option_then_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(rec.DATA_DIR_ENV, str(tmp_path / "env"))
    assert rec.data_dir() == tmp_path / "env"
    assert rec.data_dir(tmp_path / "opt") == tmp_path / "opt"
    monkeypatch.delenv(rec.DATA_DIR_ENV)
    assert rec.data_dir() == Path("~/.local/share/empathic/sessions").expanduser()


@pytest.mark.parametrize("bad", ["", "..", "../x", "a/b", ".hidden", "x" * 81, "a b", "a\x00b", "/etc", "é"])
def test_session_ids_cannot_escape_the_data_dir(tmp_path, bad):
    with pytest.raises(ValueError, match="not a session id"):
        check_session_id(bad)
    with pytest.raises(ValueError):
        forget_session(tmp_path, bad)


def test_a_symlinked_session_folder_is_refused_and_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me")
    data = tmp_path / "data"
    data.mkdir()
    (data / "evil").symlink_to(outside, target_is_directory=True)
    (data / "notes").mkdir()  # a folder that is no session is not listed either
    (data / "notes" / "todo.txt").write_text("x")
    with pytest.raises(ValueError, match="does not lie inside"):
        session_dir(data, "evil")
    with pytest.raises(ValueError):
        forget_session(data, "evil")
    assert (outside / "precious.txt").read_text() == "keep me"
    assert list_sessions(data) == []


_CRASHING_WRITER = """
import os, sys, time, numpy as np
sys.path.insert(0, {repo!r})
from ui.recorder import SessionRecorder
r = SessionRecorder({data!r}, session_id="crashed")
r.begin([{{"name": "store", "granted": True, "t_s": 0.0, "time_utc": "x"}}])
frame = np.full((240, 320, 3), 90, np.uint8)
t = 0.0
for _ in range(26):  # 2.6 s of media in about real time (a count, not a clock: a busy box must not write less),
    # then die without closing anything
    r.audio(np.full(1600, 0.1, np.float32), t)
    r.frame(frame, t)
    r({{"kind": "face", "t_s": round(t, 3)}})
    t += 0.1
    time.sleep(0.1)
print(t, flush=True)
os.kill(os.getpid(), 9)
"""


def test_a_crash_loses_at_most_about_the_last_second(tmp_path, models):
    data = tmp_path / "data"
    done = subprocess.run([sys.executable, "-c", _CRASHING_WRITER.format(repo=str(REPO), data=str(data))],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == -9, done.stderr
    written_s = float(done.stdout.strip())
    folder = data / "crashed"
    meta = json.loads((folder / "meta.json").read_text())  # whole, never half-written
    assert meta["session_id"] == "crashed"
    events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    assert events and events[-1]["t_s"] >= written_s - 0.2  # appended whole lines; the OS keeps them
    with wave.open(str(folder / "audio.wav")) as wav:
        kept_s = wav.getnframes() / wav.getframerate()
    assert written_s - 1.3 <= kept_s <= written_s + 0.01, (kept_s, written_s)
    from perception.video import sample_frames

    frames = list(sample_frames(folder / "video.mp4", fps=10))
    assert frames and frames[-1][0] >= written_s - 1.5, (frames[-1][0] if frames else None, written_s)
    # and a crashed session replays like any other: it is listed, with what it has
    (listed,) = list_sessions(data)
    assert listed.session_id == "crashed" and "audio.wav" in listed.files and os.path.getsize(folder / "video.mp4")
    from dataclasses import replace

    from ui.replay import replay

    result = replay(folder, tmp_path / "replayed", replace(models, responder=models.local_responder), progress=False)
    replayed = [json.loads(line) for line in (tmp_path / "replayed" / "events.jsonl").read_text().splitlines()]
    assert sum(e["kind"] == "face" for e in replayed) >= 5, result
    assert (tmp_path / "replayed" / "report.html").exists()


def test_the_apps_forget_button_deletes_the_stored_session(models, tmp_path):
    from ui.app import DemoServer

    server = DemoServer(models)
    server.data_dir = tmp_path / "sessions"
    try:
        session = server.session(None)
        session.set_consent("camera", True)
        assert not server.forget_stored(None)  # nothing stored yet
        session.set_consent("store", True)
        session.on_frame(_face_frame())
        folder = session.on_store.path
        assert (folder / "events.jsonl").read_text().count('"kind":"face"') == 1
        assert server.forget_stored(None)
        assert not folder.exists() and not session.consent.allows("store")
        assert list((tmp_path / "sessions").iterdir()) == []
        session.on_frame(_face_frame())  # store is off now: nothing comes back
        assert list((tmp_path / "sessions").iterdir()) == []
    finally:
        for session in list(server.sessions.values()):  # not server.close(): the models are shared by the tests
            session.close()
