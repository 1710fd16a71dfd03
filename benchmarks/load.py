"""Load and endurance: five people at once through the web API, and one long session fed straight to LiveSession.

- five_sessions_*: one app (the embedded models, the LLM writing every reply) on 127.0.0.1; five gradio_client
  sessions at once, each sending its own typed turns. replies_per_s over the whole run, the median of each
  session's own median reply latency and the worst of them, and the app's resident memory before and after.
- long_session_*: a LiveSession on the same models fed a simulated hour (quick: ten minutes) of streamed samples on
  a simulated clock: webcam frames at FRAME_FPS, 0.5 s microphone chunks of silence with a spoken utterance every
  SPEECH_EVERY_S (each one a real turn: VAD, ASR, text emotion, prosody, fusion and a template reply, the LLM being
  measured above). Resident memory is sampled every simulated minute; rss_mb_growth_second_half says whether it is
  flat once the session has warmed up.

    .venv/bin/python -c "from benchmarks import load; print(load.run(quick=True))"   # or: empathic bench --only load
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks.demo import free_port, rss_mb

SESSIONS = 5
FRAME_FPS = 2.0  # frames offered in the long session (the live app analyses what the CPU allows, ~5/s)
CHUNK_S = 0.5
SPEECH_EVERY_S = 60.0
TEXTS = ("I finally got the job I wanted!", "My grandmother passed away last night.",
         "Someone keyed my car and I am furious.", "I have a biopsy tomorrow and I'm scared.",
         "Guess what, we're having a baby!", "I failed my driving test again.")


def five_sessions(models, turns_per_session: int) -> dict[str, float | None]:
    from gradio_client import Client

    from ui.app import launch

    port = free_port()
    app, server = launch(host="127.0.0.1", port=port, models=models, block=False)
    rss_before = rss_mb()
    latencies: list[list[float]] = [[] for _ in range(SESSIONS)]
    failures: list[str] = []

    def person(i: int) -> None:
        try:
            client = Client(f"http://127.0.0.1:{port}/", verbose=False)
            for turn in range(turns_per_session):
                started = time.perf_counter()
                chat, _ = client.predict(TEXTS[(i + turn) % len(TEXTS)], api_name="/text_turn")
                latencies[i].append(time.perf_counter() - started)
                if len(chat) != 2 * (turn + 1):
                    failures.append(f"session {i}: {len(chat)} messages after {turn + 1} turns")
        except Exception as err:  # counted, not raised: the figures say how many replies came
            failures.append(f"session {i}: {type(err).__name__}: {err}")

    started = time.perf_counter()
    people = [threading.Thread(target=person, args=(i,)) for i in range(SESSIONS)]
    for p in people:
        p.start()
    for p in people:
        p.join()
    wall_s = time.perf_counter() - started
    rss_after = rss_mb()
    app.close()
    medians = [statistics.median(x) for x in latencies if x]
    replies = sum(len(x) for x in latencies)
    figures: dict[str, float | None] = {
        "five_sessions_replies": replies,
        "five_sessions_failures": len(failures),
        "five_sessions_replies_per_s": round(replies / wall_s, 3),
        "five_sessions_latency_s_median_of_session_medians": round(statistics.median(medians), 2) if medians else None,
        "five_sessions_latency_s_worst_session_median": round(max(medians), 2) if medians else None,
        "five_sessions_wall_s": round(wall_s, 1),
        "five_sessions_app_rss_mb_before": round(rss_before, 1),
        "five_sessions_app_rss_mb_after": round(rss_after, 1),
    }
    return figures


def long_session(models, simulated_s: float) -> dict[str, float]:
    from PIL import Image

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "samples"))
    import make_browser_samples as media

    from agent.responder import Responder
    from basics.audio import SAMPLE_RATE_HZ
    from perception.audio import load_audio
    from ui.session import LiveSession

    folder = Path(tempfile.mkdtemp(prefix="bench_load_"))
    face = np.asarray(Image.open(media.make_face_png(folder / "face.png")).convert("RGB"))
    speech = load_audio(media.make_speech_wav(folder / "speech.wav"), SAMPLE_RATE_HZ)
    step = int(CHUNK_S * SAMPLE_RATE_HZ)
    silence = np.zeros(step, dtype=np.float32)

    class Clock:
        t = 0.0

        def __call__(self) -> float:
            return self.t

    clock = Clock()
    session = LiveSession(dataclasses.replace(models, responder=Responder(None, text_emotion=None),
                                              locks=models.locks), clock=clock)
    for name in ("camera", "microphone"):
        session.set_consent(name, True)
    samples: list[tuple[float, float]] = []
    next_frame = next_speech = next_sample = 0.0
    started = time.perf_counter()
    speech_chunks = [speech[i:i + step] for i in range(0, len(speech), step)]
    while clock.t < simulated_s:
        if clock.t >= next_sample:
            samples.append((clock.t, rss_mb()))
            next_sample += 60.0
        chunks = speech_chunks if clock.t >= next_speech else [silence]
        if clock.t >= next_speech:
            next_speech += SPEECH_EVERY_S
        for chunk in chunks:
            session.on_audio_chunk(chunk, SAMPLE_RATE_HZ, t_s=clock.t)
            clock.t += len(chunk) / SAMPLE_RATE_HZ
            while next_frame <= clock.t:
                session.on_frame(face, t_s=next_frame)
                next_frame += 1.0 / FRAME_FPS
    session.end_audio()
    samples.append((clock.t, rss_mb()))
    wall_s = time.perf_counter() - started
    report = session.report()
    session.close()
    half = [rss for t, rss in samples if t >= simulated_s / 2]
    return {
        "long_session_simulated_s": round(clock.t, 1),
        "long_session_wall_s": round(wall_s, 1),
        "long_session_turns": report["turns"],
        "long_session_frames_analyzed": report["counters"]["frames_analyzed"],
        "long_session_events_held": len(session.timeline()),
        "long_session_rss_mb_start": round(samples[0][1], 1),
        "long_session_rss_mb_end": round(samples[-1][1], 1),
        "long_session_rss_mb_max": round(max(r for _, r in samples), 1),
        "long_session_rss_mb_growth_second_half": round(half[-1] - half[0], 1) if len(half) > 1 else None,
        "long_session_rss_mb_per_minute": [round(r, 1) for _, r in samples],
    }


def run(quick: bool = False) -> dict:
    from ui.session import load_models

    models = load_models()
    try:
        figures = five_sessions(models, turns_per_session=2 if quick else 4)
        figures.update(long_session(models, simulated_s=600.0 if quick else 3600.0))
    finally:
        models.close()
    return figures


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick="--quick" in sys.argv), indent=1))
