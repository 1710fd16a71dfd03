"""`empathic bench`: every area's benchmark, each in its own subprocess so its peak RSS is its own, merged into
one JSON document (one figure per key; medians of several runs inside each area)."""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

AREAS: tuple[str, ...] = ("asr", "prosody", "text", "face", "fusion", "llm", "responder", "safety", "causes", "demo",
                         "replay", "ablate", "load", "scale")

# Runs one area and prints its figures plus the subprocess's own peak RSS as the last line of stdout.
_CHILD = """
import json, resource, sys
from benchmarks import {area} as bench
figures = bench.run(quick={quick})
figures["{area}_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(figures))
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=None, help="write the JSON here too (it always goes to stdout)")
    parser.add_argument("--only", default=",".join(AREAS), help=f"comma-separated areas of {','.join(AREAS)}")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (for a smoke run, not for figures)")


def _available(area: str) -> bool:
    return (Path(__file__).parent / f"{area}.py").exists()


def run_area(area: str, quick: bool) -> dict:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _CHILD.format(area=area, quick=quick)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {f"{area}_error": last}
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures[f"{area}_bench_wall_s"] = round(time.perf_counter() - started, 2)
    return figures


def run(args: argparse.Namespace) -> int:
    areas = [a.strip() for a in args.only.split(",") if a.strip()]
    unknown = [a for a in areas if a not in AREAS]
    if unknown:
        raise ValueError(f"unknown bench area(s): {', '.join(unknown)}; known: {', '.join(AREAS)}")
    result: dict = {
        "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {_cpu_count()} cores, Python {platform.python_version()}",
        "quick": bool(args.quick),
    }
    for area in areas:
        if _available(area):
            print(f"bench: {area} ...", file=sys.stderr)
            result.update(run_area(area, args.quick))
    text = json.dumps(result, indent=2, sort_keys=False)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0 if not any(k.endswith("_error") for k in result) else 1


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 0)
