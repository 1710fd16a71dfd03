"""Replay of a batch (ui/replay_batch.py): a folder of media files and sessions, one folder per input and one
summary table; the same events on a real Ray cluster as on the local engine; a bad file one row; --resume."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from batch.local import LocalEngine
from ui.replay_batch import ReplayWorker, find_inputs, plan_jobs, run_batch

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """Two spoken clips, a video with a face, a session folder, a file that is not media, and a text file that is
    not an input at all."""
    folder = tmp_path_factory.mktemp("inputs")
    shutil.copy(SAMPLES / "speech_joy.wav", folder / "joy.wav")
    shutil.copy(SAMPLES / "speech_sadness.wav", folder / "sad.wav")
    shutil.copy(SAMPLES / "face_video.mp4", folder / "face.mp4")
    session = folder / "short_session"
    session.mkdir()
    for name in ("meta.json", "consent.jsonl", "events.jsonl"):
        shutil.copy(SAMPLES / "session_demo" / name, session / name)
    shutil.copy(SAMPLES / "speech_anger.wav", session / "audio.wav")
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    (folder / "notes.txt").write_text("not an input")
    return folder


def test_a_folder_is_its_sessions_and_media_files(inputs, tmp_path):
    found = find_inputs([inputs])
    assert [p.name for p in found] == ["broken.mp4", "face.mp4", "joy.wav", "sad.wav", "short_session"]
    assert find_inputs([inputs / "short_session"]) == [inputs / "short_session"]  # a session is one input
    jobs = plan_jobs(found + [inputs / "joy.wav"], tmp_path)
    assert [j.name for j in jobs][-2:] == ["short_session", "joy-2"] and jobs[2].out_dir == tmp_path / "joy"


def test_the_command_line_replays_a_folder_into_a_table_and_resumes(models, inputs, tmp_path, monkeypatch, capsys):
    """`empathic replay FOLDER --out DIR` on the local engine (the test's loaded models, template replies)."""
    import ui.session
    from ui.cli import main

    monkeypatch.setattr(ui.session, "load_models",
                        lambda **kw: replace(models, responder=models.local_responder))
    out = tmp_path / "out"
    assert main(["replay", str(inputs), "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "replayed 4 of 5 inputs" in printed and "broken.mp4" in printed
    summary = json.loads((out / "summary.json").read_text())
    rows = {r["name"]: r for r in summary["rows"]}
    assert summary["replayed"] == 4 and summary["failed"] == 1 and not rows["broken"]["ok"]
    assert "broken.mp4" in rows["broken"]["error"] and "\n" not in rows["broken"]["error"]
    assert rows["joy"]["turns"] >= 1 and (out / "joy" / "events.jsonl").exists()
    assert (out / "joy" / "report.html").exists()
    assert rows["face"]["events"] > 10 and rows["short_session"]["turns"] >= 1
    html = (out / "summary.html").read_text()
    assert 'href="joy/report.html"' in html and "failed:" in html
    shutil.rmtree(out / "sad")
    assert main(["replay", str(inputs), "--out", str(out), "--no-progress", "--resume"]) == 0
    again = json.loads((out / "summary.json").read_text())
    assert again["resumed"] == 3 and again["replayed"] == 4  # only sad.wav (and the broken file) ran again
    digests = {r["name"]: r.get("events_sha256") for r in again["rows"]}
    assert digests == {name: r.get("events_sha256") for name, r in rows.items()}  # sad.wav replayed the same
    assert main(["replay", str(inputs), "--out", str(tmp_path / "x"), "--address", "1.2.3.4:6379"]) == 2
    assert "--address and --workers need --engine ray" in capsys.readouterr().err


@pytest.mark.slow
def test_ray_replays_give_the_events_of_the_local_engine(ray_cluster, inputs, tmp_path):
    from batch.ray_engine import RayEngine

    chosen = [inputs / name for name in ("joy.wav", "face.mp4", "short_session", "broken.mp4")]
    worker = ReplayWorker(template_replies=True)
    local = run_batch(plan_jobs(chosen, tmp_path / "local"), tmp_path / "local", worker, LocalEngine(),
                      progress=False)
    engine = RayEngine(address=ray_cluster, workers=2)
    on_ray = run_batch(plan_jobs(chosen, tmp_path / "ray"), tmp_path / "ray", worker, engine, progress=False)
    assert on_ray["replayed"] == local["replayed"] == 3 and on_ray["failed"] == 1
    for a, b in zip(local["rows"], on_ray["rows"]):
        assert a["name"] == b["name"] and a["ok"] == b["ok"] and a.get("events") == b.get("events")
        if a["ok"]:
            events = (tmp_path / "local" / a["name"] / "events.jsonl").read_bytes()
            assert events and events == (tmp_path / "ray" / b["name"] / "events.jsonl").read_bytes(), a["name"]
    assert len({s.pid for s in engine.worker_stats()}) == 2  # two workers, each with its models loaded once
