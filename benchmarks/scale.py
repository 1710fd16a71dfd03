"""Benchmark of the batch engines (`empathic bench --only scale`): the same text-only ablation manifest
(GoEmotions dev) through the local engine and through Ray with 1 and 2 workers (a private Ray on this machine, one
CPU per worker), each in a fresh process with no cue cache; throughput once the first sample is out (samples/s,
and each engine's ratio to the local one), time to the first sample (start-up: Ray, actors, models), peak RSS per
worker process, and the engine's whole overhead on a small manifest. Then replay on Ray: media seconds replayed per
wall second per worker (template replies), the per-sample cost the README's 1,000-hour estimate is built on.

Needs the development data (../shared/data or $EMPATHIC_DATA) and ray. Quick mode runs smaller manifests."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.ablate import _head  # the first lines of a manifest
from evaluation.make_manifests import data_dir, write_all

REPO = Path(__file__).resolve().parents[1]

_ABLATE_CHILD = """
import json, resource, sys, time
from pathlib import Path
from batch.engine import make_engine
from evaluation.ablation import run_ablation
manifest, out, engine_name, workers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
engine = make_engine(engine_name, workers=workers if engine_name == "ray" else None, shard_size=8)
started = time.perf_counter()
first = []
run = run_ablation(manifest, "text", out, progress=False, use_cache=False, engine=engine,
                   on_sample=lambda *a: first or first.append(time.perf_counter()))
ended = time.perf_counter()
stats = [s.__dict__ for s in engine.worker_stats()]
print(json.dumps({"wall_s": ended - started, "first_s": first[0] - started, "steady_s": ended - first[0],
                  "samples": run.samples, "workers": stats,
                  "driver_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

_REPLAY_CHILD = """
import json, sys, time
from pathlib import Path
from batch.ray_engine import RayEngine
from ui.replay_batch import ReplayWorker, find_inputs, plan_jobs, run_batch
folder, out, workers = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
engine = RayEngine(workers=workers)
summary = run_batch(plan_jobs(find_inputs([folder]), out), out, ReplayWorker(template_replies=True), engine,
                    progress=False)
rows = [r for r in summary["rows"] if r["ok"]]
print(json.dumps({"wall_s": summary["wall_s"], "media_s": summary["media_s"], "replayed": len(rows),
                  "replay_wall_s": sum(r["wall_s"] for r in rows),
                  "workers": [s.__dict__ for s in engine.worker_stats()]}))
"""


def _child(script: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise RuntimeError((done.stderr.strip().splitlines() or ["no output"])[-1])
    return json.loads(done.stdout.strip().splitlines()[-1])


def _ablate(manifest: Path, work: Path, name: str, engine: str, workers: int = 1) -> dict:
    return _child(_ABLATE_CHILD, str(manifest), str(work / f"out_{name}"), engine, str(workers))


def run(quick: bool = False) -> dict:
    root = data_dir()
    figures: dict = {"scale_data": str(root)}
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as folder:
        work = Path(folder)
        write_all(work / "manifests", root, only={"goemotions_dev"})
        goemotions = work / "manifests" / "goemotions_dev.jsonl"
        big = _head(goemotions, work / "texts.jsonl", 400 if quick else 2000)
        small = _head(goemotions, work / "small.jsonl", 20)
        runs = {"local": _ablate(big, work, "local", "local"),
                "ray_1": _ablate(big, work, "ray_1", "ray", 1),
                "ray_2": _ablate(big, work, "ray_2", "ray", 2)}
        base = runs["local"]
        figures["scale_text_samples"] = base["samples"]
        for name, r in runs.items():
            steady = (r["samples"] - 1) / r["steady_s"]
            figures[f"scale_{name}_samples_per_s"] = round(steady, 1)
            figures[f"scale_{name}_ratio_to_local"] = round(steady / ((base["samples"] - 1) / base["steady_s"]), 2)
            figures[f"scale_{name}_first_sample_s"] = round(r["first_s"], 2)
            figures[f"scale_{name}_wall_s"] = round(r["wall_s"], 2)
            rss = [w["peak_rss_mb"] for w in r["workers"]]
            figures[f"scale_{name}_worker_peak_rss_mb"] = round(max(rss), 1) if rss else None
        small_local = _ablate(small, work, "small_local", "local")
        small_ray = _ablate(small, work, "small_ray", "ray", 1)
        figures["scale_small_manifest_samples"] = small_local["samples"]
        figures["scale_small_local_wall_s"] = round(small_local["wall_s"], 2)
        figures["scale_small_ray_1_wall_s"] = round(small_ray["wall_s"], 2)
        figures["scale_ray_overhead_small_manifest_s"] = round(small_ray["wall_s"] - small_local["wall_s"], 2)

        sessions = work / "sessions"
        sessions.mkdir()
        for n in range(2 if quick else 4):
            shutil.copytree(REPO / "samples" / "session_demo", sessions / f"session_{n}")
        replay = _child(_REPLAY_CHILD, str(sessions), str(work / "replay_out"), "2")
        figures["scale_replay_inputs"] = replay["replayed"]
        figures["scale_replay_media_s"] = replay["media_s"]
        figures["scale_replay_ray_2_wall_s"] = replay["wall_s"]
        figures["scale_replay_x_real_time_per_worker"] = round(replay["media_s"] / replay["replay_wall_s"], 2)
        figures["scale_replay_worker_peak_rss_mb"] = round(max(w["peak_rss_mb"] for w in replay["workers"]), 1)
    return figures


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
