"""Benchmark of `empathic ablate` (`empathic bench --only ablate`): wall time of 500 text-only samples (GoEmotions
dev, target < 60 s) and of the RAVDESS dev manifest (240 clips, text from speech-to-text plus the voice, target
< 5 min), each in a fresh process with an empty cue cache (so perception and model loading are counted), and peak
RSS at two manifest lengths to show memory does not grow with the manifest.

Needs the development data (../shared/data or $EMPATHIC_DATA); quick mode runs smaller manifests."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from evaluation.make_manifests import data_dir, write_all

_CHILD = """
import json, resource, sys, time
from pathlib import Path
from evaluation.ablation import run_ablation
started = time.perf_counter()
run = run_ablation(sys.argv[1], sys.argv[2], sys.argv[3], progress=False, cache_root=Path(sys.argv[4]))
print(json.dumps({"wall_s": time.perf_counter() - started, "samples": run.samples,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _head(source: Path, target: Path, lines: int) -> Path:
    with source.open(encoding="utf-8") as inp, target.open("w", encoding="utf-8") as out:
        for number, line in enumerate(inp):
            if number >= lines:
                break
            out.write(line)
    return target


def _child(manifest: Path, conditions: str, work: Path, name: str) -> dict:
    """One `run_ablation` in a fresh process with its own empty cache: (wall_s, samples, peak_rss_mb)."""
    done = subprocess.run([sys.executable, "-c", _CHILD, str(manifest), conditions, str(work / f"out_{name}"),
                           str(work / f"cache_{name}")], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{name}: {(done.stderr.strip().splitlines() or ['no output'])[-1]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> dict:
    root = data_dir()
    with tempfile.TemporaryDirectory(prefix="bench_ablate_") as folder:
        work = Path(folder)
        write_all(work / "manifests", root, only={"goemotions_dev", "ravdess_dev"})
        goemotions = work / "manifests" / "goemotions_dev.jsonl"
        ravdess = work / "manifests" / "ravdess_dev.jsonl"
        small, large = (100, 400) if quick else (500, 4000)
        text_small = _child(_head(goemotions, work / "text_small.jsonl", small), "text", work, "text_small")
        text_large = _child(_head(goemotions, work / "text_large.jsonl", large), "text", work, "text_large")
        clips = 24 if quick else 240
        speech = _child(_head(ravdess, work / "ravdess.jsonl", clips), "text,audio,text+audio", work, "ravdess")
    return {
        "ablate_text_samples": text_small["samples"],
        "ablate_text_wall_s": round(text_small["wall_s"], 2),
        "ablate_text_target_s": 60,
        "ablate_ravdess_clips": speech["samples"],
        "ablate_ravdess_wall_s": round(speech["wall_s"], 2),
        "ablate_ravdess_target_s": 300,
        "ablate_ravdess_peak_rss_mb": round(speech["peak_rss_mb"], 1),
        f"ablate_peak_rss_mb_at_{text_small['samples']}_texts": round(text_small["peak_rss_mb"], 1),
        f"ablate_peak_rss_mb_at_{text_large['samples']}_texts": round(text_large["peak_rss_mb"], 1),
        f"ablate_text_wall_s_at_{text_large['samples']}_texts": round(text_large["wall_s"], 2),
        "ablate_data": str(root),
    }


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
