"""Replay: the committed sample session and ordinary files through the live pipeline; bad input; determinism."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from basics.errors import MediaError
from ui.replay import open_source, replay
from ui.timeline_file import load_events

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
SAMPLE_SESSION = SAMPLES / "session_demo"


@pytest.fixture(scope="module")
def quick_models(models):
    """The real perception and fusion, replies from the responder's templates (no LLM): for the bad-input cases,
    where the replies are not what is tested."""
    return replace(models, responder=models.local_responder)


@pytest.fixture(scope="module")
def talking_video(tmp_path_factory) -> Path:
    """The sample session's camera and microphone as one ordinary mp4 (H.264 + AAC), as a phone would save it."""
    out = tmp_path_factory.mktemp("media") / "talking.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(SAMPLE_SESSION / "video.mp4"), "-i",
                    str(SAMPLE_SESSION / "audio.wav"), "-c:v", "copy", "-c:a", "aac", "-movflags", "+faststart",
                    str(out)], check=True)
    return out


def _events(result) -> list[dict]:
    return load_events(result.events_path)[0]


def _kinds(events: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for e in events:
        counts[e["kind"]] = counts.get(e["kind"], 0) + 1
    return counts


class _PeakRss:
    """How far the resident memory of this process rose above where it was, sampled every 20 ms."""

    def __enter__(self):
        self.start_mb = self.peak_mb = _rss_mb()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._done.wait(0.02):
            self.peak_mb = max(self.peak_mb, _rss_mb())

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, _rss_mb())

    @property
    def growth_mb(self) -> float:
        return self.peak_mb - self.start_mb


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.mark.slow
def test_the_sample_session_replays_with_a_diff_against_what_was_recorded(models, tmp_path):
    """What a fresh clone can run: the real LLM, the report, and the diff against what was recorded."""
    before = _tree_digest(SAMPLE_SESSION)
    result = replay(SAMPLE_SESSION, tmp_path, models, diff=True, progress=False)
    events = _events(result)
    kinds = _kinds(events)
    assert kinds["transcript"] == 3 and kinds["reply"] == 3 and kinds["face"] >= 60 and kinds["state"] >= 60
    recorded = load_events(SAMPLE_SESSION / "events.jsonl")[0]
    spoken = [e["text"] for e in recorded if e["kind"] == "transcript"]
    assert [e["text"] for e in events if e["kind"] == "transcript"] == spoken
    diff = json.loads((tmp_path / "diff.json").read_text())
    assert diff == result.diff and diff["replies"]["recorded"] == 3 and diff["transcripts"]["different"] == 0
    assert diff["states"]["same_label_fraction"] >= 0.8
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["counters"]["frames_analyzed"] >= 70 and summary["media_s"] > 15
    assert (tmp_path / "report.html").stat().st_size > 10_000 and (tmp_path / "timeline.png").exists()
    assert _tree_digest(SAMPLE_SESSION) == before, "replay must never change the stored session"


def test_the_command_line_replays_and_prints_the_diff(quick_models, tmp_path, monkeypatch, capsys):
    """`empathic replay` wiring (the models it would load are the test's, to keep the test short)."""
    import ui.session
    from ui.cli import main

    monkeypatch.setattr(ui.session, "load_models", lambda **kw: replace(quick_models))
    short = tmp_path / "short"
    short.mkdir()
    for name in ("meta.json", "consent.jsonl", "events.jsonl"):
        shutil.copy(SAMPLE_SESSION / name, short / name)
    shutil.copy(SAMPLES / "speech_joy.wav", short / "audio.wav")  # not what was recorded: the diff must say so
    assert main(["replay", str(short), "--out", str(tmp_path / "out"), "--diff", "--without", "face",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "transcripts: 3 recorded, 1 replayed" in out and "report: " in out
    assert "video.mp4: missing" in out
    assert main(["replay", str(short), "--out", str(tmp_path / "o2"), "--without", "smell"]) == 2
    assert "--without takes" in capsys.readouterr().err


@pytest.mark.slow
def test_replaying_the_same_input_twice_gives_identical_events(models, tmp_path):
    """Seeded, temperature 0, on the media clock: byte-identical events with the real LLM writing replies."""
    first = replay(SAMPLES / "speech_sadness.wav", tmp_path / "a", models, progress=False, report=False)
    second = replay(SAMPLES / "speech_sadness.wav", tmp_path / "b", models, progress=False, report=False)
    assert _kinds(_events(first)).get("reply", 0) >= 1
    assert first.events_path.read_bytes() == second.events_path.read_bytes()


def test_any_video_with_sound_replays_as_a_session(quick_models, talking_video, tmp_path):
    result = replay(talking_video, tmp_path, quick_models, progress=False)
    kinds = _kinds(_events(result))
    assert kinds["transcript"] == 3 and kinds["face"] >= 70 and kinds["voice"] == 3 and kinds["reply"] == 3
    assert result.summary["problems"] == []


def test_modalities_can_be_switched_off(quick_models, talking_video, tmp_path):
    result = replay(talking_video, tmp_path / "nf", quick_models, without="face,voice", progress=False,
                    report=False)
    events = _events(result)
    kinds = _kinds(events)
    assert "face" not in kinds and "voice" not in kinds and kinds["transcript"] == 3
    assert result.summary["counters"]["frames_analyzed"] == 0
    states = [e for e in events if e["kind"] == "state"]
    assert states and all("face" not in e["why"] and "voice" not in e["why"] for e in states)
    words_off = replay(talking_video, tmp_path / "nt", quick_models, without=["text"], progress=False,
                       report=False)
    states = [e for e in _events(words_off) if e["kind"] == "state"]
    assert states and all("words" not in e["why"] for e in states)
    with pytest.raises(ValueError, match="--without takes"):
        replay(talking_video, tmp_path / "x", quick_models, without="smell")


def test_audio_only_and_video_only_files(quick_models, tmp_path):
    audio = replay(SAMPLES / "speech_joy.wav", tmp_path / "a", quick_models, progress=False, report=False)
    kinds = _kinds(_events(audio))
    assert kinds["transcript"] == 1 and "face" not in kinds and audio.summary["problems"] == []
    video = replay(SAMPLES / "face_video.mp4", tmp_path / "v", quick_models, progress=False, report=False)
    kinds = _kinds(_events(video))
    assert kinds["face"] >= 15 and "transcript" not in kinds
    assert any("no audio track" in p for p in video.summary["problems"])


def test_a_truncated_video_gives_what_came_before_the_cut(quick_models, talking_video, tmp_path):
    cut = tmp_path / "cut.mp4"
    data = talking_video.read_bytes()
    cut.write_bytes(data[: len(data) * 6 // 10])
    result = replay(cut, tmp_path / "out", quick_models, progress=False, report=False)
    frames = result.summary["counters"]["frames_analyzed"]
    assert 10 <= frames < 70, frames
    assert _kinds(_events(result)).get("transcript", 0) >= 1  # the first turn was before the cut


def test_a_session_folder_with_missing_or_corrupt_files(quick_models, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(SAMPLE_SESSION, broken)
    (broken / "audio.wav").unlink()
    (broken / "meta.json").write_text("{not json")
    with open(broken / "events.jsonl", "a") as events:
        events.write('{"kind": "face", "t_s": 1')  # a torn last line, as after a crash
    before = _tree_digest(broken)
    result = replay(broken, tmp_path / "out", quick_models, progress=False)
    problems = " | ".join(result.summary["problems"])
    assert "audio.wav: missing" in problems and "meta.json: not valid JSON" in problems
    assert "events.jsonl:" in problems and "skipped" in problems
    kinds = _kinds(_events(result))
    assert kinds["face"] >= 60 and "transcript" not in kinds  # the face is replayed without the sound
    assert _tree_digest(broken) == before

    (broken / "video.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))  # corrupt
    with pytest.raises(MediaError, match="nothing to replay"):
        replay(broken, tmp_path / "out2", quick_models, progress=False)


def test_a_three_hour_sparse_file_streams_in_bounded_memory(quick_models, tmp_path, write_sparse_wav):
    from perception.audio import load_audio

    speech = load_audio(SAMPLES / "speech_joy.wav")
    long_file = write_sparse_wav(tmp_path / "three_hours.wav", 3 * 3600.0, speech, speech_at_s=(5.0, 9000.0))
    with _PeakRss() as rss:
        result = replay(long_file, tmp_path / "out", quick_models, progress=False)
    # the whole file as float32 would be 691 MB; replay holds a window, a frame and the session's buffers
    assert rss.growth_mb < 150, rss.growth_mb
    transcripts = [e for e in _events(result) if e["kind"] == "transcript"]
    assert len(transcripts) == 2 and transcripts[1]["t_s"] > 9000
    assert result.summary["media_s"] == pytest.approx(3 * 3600.0, abs=1)


@pytest.mark.parametrize("make, message", [
    (lambda p: p.with_suffix(".txt").write_text("hello") and p.with_suffix(".txt"), "unsupported file type"),
    (lambda p: p.with_suffix(".mp4").write_bytes(b"\x00" * 64) and p.with_suffix(".mp4"), "not a readable"),
    (lambda p: p.with_name("nothing.wav"), "no such file"),
])
def test_unreadable_input_is_one_clear_line(tmp_path, make, message):
    path = make(tmp_path / "bad")
    with pytest.raises(MediaError, match=message) as caught:
        open_source(path)
    assert str(path.name) in str(caught.value) and "\n" not in str(caught.value)


def test_an_unsupported_codec_is_named_not_a_traceback(tmp_path, capsys):
    """A wav whose format tag no decoder knows (0x3A3A): the command fails with one line naming the file."""
    from ui.cli import main

    bad = tmp_path / "odd_codec.wav"
    body = np.zeros(1600, "<i2").tobytes()
    import struct

    bad.write_bytes(b"RIFF" + struct.pack("<I", 36 + len(body)) + b"WAVEfmt "
                    + struct.pack("<IHHIIHH", 16, 0x3A3A, 1, 16000, 32000, 2, 16) + b"data"
                    + struct.pack("<I", len(body)) + body)
    assert main(["replay", str(bad), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("empathic replay: error:") and "odd_codec.wav" in err and len(err.splitlines()) == 1


def test_diff_needs_recorded_events(quick_models, tmp_path):
    with pytest.raises(ValueError, match="--diff needs a session folder"):
        replay(SAMPLES / "speech_joy.wav", tmp_path, quick_models, diff=True)


def test_the_replay_tab_lists_stored_sessions_and_replays_an_upload(quick_models, tmp_path):
    import gradio as gr

    from ui.replay_tab import build_replay_tab, run_for_ui, session_choices

    data = tmp_path / "sessions"
    shutil.copytree(SAMPLE_SESSION, data / "session_demo")
    assert [value for _, value in session_choices(data)] == ["session_demo"]
    with gr.Blocks():
        parts = build_replay_tab(quick_models, data)
    assert parts["session"].choices[0][1] == "session_demo"
    text, png, html, report = run_for_ui(quick_models, data, None, str(SAMPLES / "speech_joy.wav"), ["face"],
                                         out_root=tmp_path)
    assert "Replayed" in text and Path(png).exists() and "data:image/png;base64," in html and "<body>" not in html
    assert Path(report).name == "report.html"
    with pytest.raises(ValueError, match="not a session id"):
        run_for_ui(quick_models, data, "../etc", None, [])
    with pytest.raises(ValueError, match="pick a stored session"):
        run_for_ui(quick_models, data, None, None, [])


def test_the_replay_tab_replays_a_session_given_as_a_zip_or_as_the_files_of_a_folder(quick_models, tmp_path):
    import zipfile

    from ui.replay_tab import run_for_ui

    archive = tmp_path / "my_session.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for file in ("meta.json", "consent.jsonl", "events.jsonl", "audio.wav"):  # no video.mp4: camera was off
            zipped.write(SAMPLE_SESSION / file, f"session_demo/{file}")
    text, png, html, report = run_for_ui(quick_models, tmp_path, None, str(archive), ["face"], out_root=tmp_path)
    assert "Replayed" in text and "This session has no video" in text and "missing" not in text
    assert "Compared with what was recorded" in text
    # the files of a folder, as Gradio hands them over: each in a folder of its own
    uploaded = []
    for n, file in enumerate(("meta.json", "events.jsonl", "video.mp4")):
        (tmp_path / f"up{n}").mkdir()
        shutil.copy(SAMPLE_SESSION / file, tmp_path / f"up{n}" / file)
        uploaded.append(str(tmp_path / f"up{n}" / file))
    text, png, html, report = run_for_ui(quick_models, tmp_path, None, uploaded, [], out_root=tmp_path)
    assert "This session has no sound" in text and Path(png).exists()
