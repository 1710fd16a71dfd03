"""Replay speed and memory.

- replay_sample_x_real_time_median: the committed sample session (samples/session_demo, ~16 s, three spoken turns,
  faces at 5 fps) replayed with every model, the embedded LLM writing the replies: seconds of media per second of
  wall time, median over runs, models loaded (and warmed by one replay) before timing. Target >= 2x on 2 cores.
  It is bound by the LLM: replay_sample_reply_s_median is one reply's wall time (appraisal + generation + check).
- replay_<N>min_peak_rss_mb: peak resident memory of a fresh process that loads every model and replays an N-minute
  video (the sample session looped: a turn every ~5 s, faces at 5 fps), replies from the responder's templates so
  the long runs take minutes, not an hour of LLM time; memory is about streaming and buffers, and it should be flat
  in N (1 and 10 minutes; 1 and 3 with --quick). replay_<N>min_x_real_time is that run's speed.

    .venv/bin/python -c 'import benchmarks.replay as b; print(b.run())'     # or: empathic bench --only replay
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE_SESSION = REPO / "samples" / "session_demo"

_CHILD = """
import json, resource, sys
sys.path.insert(0, {repo!r})
from dataclasses import replace
from ui.replay import replay
from ui.session import load_models
models = load_models()
models = replace(models, responder=models.local_responder)
result = replay({path!r}, {out!r}, models, progress=False, report=False)
print(json.dumps({{"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "x_real_time": result.summary["x_real_time"], "turns": result.summary["turns"],
                  "media_s": result.summary["media_s"]}}))
"""


def looped_video(out: Path, minutes: float) -> Path:
    """The sample session's camera and microphone looped to `minutes`, as one ordinary mp4 (H.264 + AAC)."""
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-stream_loop", "-1", "-i", str(SAMPLE_SESSION / "video.mp4"),
                    "-stream_loop", "-1", "-i", str(SAMPLE_SESSION / "audio.wav"), "-t", str(minutes * 60),
                    "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "veryfast", "-crf", "30",
                    "-c:a", "aac", "-threads", "2", str(out)], check=True)
    return out


def sample_speed(runs: int) -> dict[str, float]:
    from ui.replay import replay
    from ui.session import load_models

    models = load_models()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            replay(SAMPLE_SESSION, Path(tmp) / "warm", models, progress=False, report=False)
            speeds, replies, walls = [], [], []
            for i in range(runs):
                result = replay(SAMPLE_SESSION, Path(tmp) / str(i), models, progress=False, report=False)
                speeds.append(result.summary["x_real_time"])
                walls.append(result.summary["wall_s"])
                replies += [t["latency_s"] for t in result.summary["reply_timings"] if "latency_s" in t]
            media_s = result.summary["media_s"]
    finally:
        models.close()
    return {"replay_sample_x_real_time_median": statistics.median(speeds),
            "replay_sample_wall_s_median": statistics.median(walls), "replay_sample_media_s": media_s,
            "replay_sample_reply_s_median": statistics.median(replies) if replies else float("nan"),
            "replay_sample_runs": float(runs)}


def long_run(minutes: float, tmp: Path) -> dict:
    video = looped_video(tmp / f"looped_{minutes:g}min.mp4", minutes)
    done = subprocess.run([sys.executable, "-c", _CHILD.format(repo=str(REPO), path=str(video),
                                                                out=str(tmp / f"out_{minutes:g}"))],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"replay of {minutes:g} min failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> dict[str, float]:
    figures: dict[str, float] = {}
    started = time.perf_counter()
    figures.update(sample_speed(runs=1 if quick else 3))
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in ((1, 3) if quick else (1, 10)):
            measured = long_run(minutes, Path(tmp))
            figures[f"replay_{minutes}min_peak_rss_mb"] = round(measured["peak_rss_mb"], 1)
            figures[f"replay_{minutes}min_x_real_time"] = measured["x_real_time"]
            figures[f"replay_{minutes}min_turns"] = float(measured["turns"])
    figures["replay_bench_total_s"] = round(time.perf_counter() - started, 1)
    return figures


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv[1:]), indent=2))
