"""The ablation on a real Ray cluster (tests/conftest.py's ray_cluster: 2 CPUs on this machine): the same
predictions and report as the local engine, a worker killed mid-run costing nothing, a stopped run resumed, and a
bad file one line in the report, as locally."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from evaluation.ablation import CONDITIONS, LEDGER_FILE, read_predictions, run_ablation
from evaluation.ablation_report import build_report

ALL = ",".join(CONDITIONS)
SAMPLES = 6
RUN_FIELDS_THAT_DIFFER = ("date_utc", "command", "machine", "timing")  # wall clock, host and engine


@pytest.fixture(scope="module")
def manifest(tmp_path_factory, samples_dir) -> Path:
    """Spoken clips (speech to text, then the words and the voice), a face with words, and a broken wav."""
    folder = tmp_path_factory.mktemp("ray_manifest")
    rows = [{"id": f"{name}-1", "audio": str(samples_dir / f"speech_{name}.wav"), "label": label}
            for name, label in (("joy", "joy"), ("sadness", "sadness"), ("anger", "anger"), ("neutral", "neutral"))]
    rows += [{"id": "joy-face", "image": str(samples_dir / "face_joy.png"), "text": "We won the final!",
              "label": "joy"},
             {"id": "broken-audio", "audio": "broken.wav", "text": "I am so angry about this", "label": "anger"}]
    (folder / "broken.wav").write_bytes(b"RIFF....WAVEnot really a wave file")
    path = folder / "m.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _rows(path: Path) -> list[dict]:
    return sorted(read_predictions(path), key=lambda r: (r["line"], r["condition"]))


def _comparable(report: dict) -> dict:
    return {k: v for k, v in report.items() if k not in RUN_FIELDS_THAT_DIFFER}


@pytest.fixture(scope="module")
def local_run(manifest, tmp_path_factory):
    """The reference: the local engine, one process, no cue cache (every sample perceived afresh)."""
    run = run_ablation(manifest, ALL, tmp_path_factory.mktemp("local"), progress=False, use_cache=False)
    return _rows(run.predictions_path), build_report(run)


def _ray_engine(address: str):
    from batch.ray_engine import RayEngine

    return RayEngine(address=address, workers=2, shard_size=1)


@pytest.mark.slow
def test_ray_gives_the_local_results_even_with_a_worker_killed_mid_run(ray_cluster, manifest, local_run, tmp_path):
    """On a real 2-CPU Ray cluster: the same predictions and report as the local engine, while one of the two
    workers is killed (SIGKILL) as soon as the first sample is written; its samples are retried, none twice."""
    rows, report = local_run
    engine = _ray_engine(ray_cluster)
    outcome: dict = {}

    def ablate() -> None:
        try:
            outcome["run"] = run_ablation(manifest, ALL, tmp_path, progress=False, use_cache=False, engine=engine)
        except BaseException as err:  # noqa: BLE001  (reported by the assertion below)
            outcome["error"] = err

    thread = threading.Thread(target=ablate)
    thread.start()
    ledger = tmp_path / LEDGER_FILE
    deadline = time.monotonic() + 240
    while not (ledger.exists() and ledger.read_text().count("\n") >= 1) and thread.is_alive():
        assert time.monotonic() < deadline, "no sample finished in 240 s"
        time.sleep(0.02)
    victim = engine.pids[0]
    finished_before_kill = ledger.read_text().count("\n")
    os.kill(victim, signal.SIGKILL)
    thread.join(timeout=300)
    assert not thread.is_alive() and "error" not in outcome, outcome.get("error")
    assert finished_before_kill < SAMPLES  # the kill came mid-run
    run = outcome["run"]
    assert _rows(run.predictions_path) == rows  # every sample once, read as the local engine read it
    ids = [json.loads(line)["id"] for line in ledger.read_text().splitlines()]
    assert len(ids) == len(set(ids)) == SAMPLES
    on_ray = build_report(run)
    assert _comparable(on_ray) == _comparable(report)
    assert on_ray["timing"]["engine"].startswith("ray, 2 workers")
    stats = engine.worker_stats()
    assert victim not in [s.pid for s in stats] and len(stats) == 2  # Ray restarted the killed worker
    # a bad file is one line in the report, as locally
    [reason] = [r for r in on_ray["missing_modalities"]["voice"] if "broken.wav" in r]
    assert on_ray["missing_modalities"]["voice"][reason] == 1


@pytest.mark.slow
def test_a_stopped_run_resumes_from_what_was_written(manifest, local_run, tmp_path):
    """Stopped after two samples (Ctrl-C), with the next sample's rows cut off mid-line as a hard kill leaves them;
    --resume perceives only the rest and ends with what one whole run gives. (Engine-independent: the ledger and
    the predictions are written by the driver.)"""
    rows, report = local_run

    def stop_after_two(sample, perceived, predictions) -> None:
        if len((tmp_path / LEDGER_FILE).read_text().splitlines()) >= 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_ablation(manifest, ALL, tmp_path, progress=False, use_cache=False, on_sample=stop_after_two)
    with (tmp_path / "predictions.jsonl").open("a") as torn:
        torn.write(json.dumps(rows[-1]) + "\n" + '{"id": "anger-1", "line": 3, "condition": "te')
    run = run_ablation(manifest, ALL, tmp_path, progress=False, use_cache=False, resume=True)
    assert run.resumed_samples == 2 and run.samples == SAMPLES
    assert _rows(run.predictions_path) == rows
    assert _comparable(build_report(run)) == _comparable(report)
    again = run_ablation(manifest, ALL, tmp_path, progress=False, use_cache=False, resume=True)
    assert again.resumed_samples == SAMPLES and _rows(again.predictions_path) == rows  # nothing left to do
