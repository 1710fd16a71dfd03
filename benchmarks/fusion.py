"""Fusion speed: what the live loop pays per face frame (buffer a cue) and per state (age, smooth, fuse, explain).

A full buffer is the worst case: 5 s of face frames at 5 fps, plus a voice cue and a turn of words.
"""

from __future__ import annotations

import statistics
import time

from basics.labels import LABELS, valence_arousal_from_probs
from fusion.fuse import FusionTracker
from perception.cues import FaceCues, ProsodyCues, TextEmotion

FPS = 5.0


def _probs(i: int) -> dict[str, float]:
    raw = [1.0 + ((i * 7 + k * 3) % 5) for k in range(len(LABELS))]
    return {label: value / sum(raw) for label, value in zip(LABELS, raw)}


def _face(i: int) -> FaceCues:
    probs = _probs(i)
    valence, arousal = valence_arousal_from_probs(probs)
    return FaceCues(i / FPS, i / FPS + 0.2, 0.6, probs, valence, arousal, explanation="joy: smiling, cheeks raised")


def run(quick: bool = False) -> dict[str, float]:
    repeats = 50 if quick else 500
    tracker = FusionTracker()
    probs = _probs(3)
    valence, arousal = valence_arousal_from_probs(probs)
    frames = [_face(i) for i in range(int(5 * FPS))]
    tracker.update(TextEmotion("I am fine", probs, valence, arousal, 0.0, 4.0, 0.5, "bench"))
    tracker.update(ProsodyCues(0.0, 4.0, 0.4, {}, {"energy_db_mean": 1.5}, probs, valence, arousal))
    for frame in frames:
        tracker.update(frame)
    now_s = frames[-1].t_end_s
    state_s, update_s = [], []
    for i in range(repeats):
        started = time.perf_counter()
        tracker.state(now_s)
        state_s.append(time.perf_counter() - started)
        frame = _face(len(frames) + i)
        started = time.perf_counter()
        tracker.update(frame)
        update_s.append(time.perf_counter() - started)
        now_s = frame.t_end_s
    return {
        "fusion_state_ms_median": round(statistics.median(state_s) * 1000, 3),
        "fusion_update_ms_median": round(statistics.median(update_s) * 1000, 4),
    }


if __name__ == "__main__":
    print(run())
