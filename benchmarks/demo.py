"""Benchmark of the live demo, driven by the media the browser test feeds Chromium's fake devices.

- face_fps_while_audio_streams: frames analysed per second (640x480, the face path through LiveSession) out of
  CAMERA_FPS offered, while the microphone streams speech in real time and no turn is being worked out;
- face_fps_while_a_turn_is_worked_out: the same while a turn (ASR, text emotion, prosody, fusion, LLM reply) runs,
  when the session slows the face on purpose (ui.session.FACE_INTERVAL_WHILE_TURN_S);
- speech_end_to_reply_s_median: from the last sample of speech reaching the server to the full reply written
  (it includes the END_OF_SPEECH_SILENCE_S wait that tells the end of a turn from a pause);
- reply_writing_s_median: the part of that spent by the responder (appraisal and LLM), for where the time goes;
- app_rss_mb: resident memory of the running app (models loaded, Gradio serving, after the turns);
- browser_*: the same app in headless Chromium with the fake camera and microphone, both turned on by their consent
  toggles as a person would: from the end of the fake microphone's speech (its level, read inside the page) to the
  person's words on screen, to "thinking", to the reply's first word and to the whole reply on screen (medians over
  the turns; the first word is the reply's opener, shown at once with an ellipsis, and the rest appears once the
  reply check has passed).

    .venv/bin/python -c "from benchmarks import demo; print(bench_demo.run())"     # or: empathic bench --only demo
"""

from __future__ import annotations

import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import cast

import numpy as np

# silence after the sample speech before it comes again: the person waits for the answer (with the browser test's
# short pause a slow reply would queue the next turn behind it, and the bench would time the queue)
PAUSE_BETWEEN_TURNS_S = 9.0
CAMERA_FPS = 15.0  # frames offered, as a webcam would; the analysed rate shows whether the CPU keeps up


def rss_mb() -> float:
    """This process's resident memory now, MB (the benches that serve the app measure the app's own process)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(quick: bool = False) -> dict[str, float]:
    from PIL import Image

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "samples"))
    import make_browser_samples as media

    from perception.audio import load_audio
    from ui.app import MIC_STREAM_EVERY_S as CHUNK_S  # chunks as the app's microphone stream sends them
    from ui.app import launch
    from ui.session import LiveSession, load_models

    models = load_models()
    missing = [f"{part}: {text}" for part, text in models.status.items() if text.startswith("unavailable")]
    if missing:
        raise RuntimeError("demo bench needs every model; " + "; ".join(missing))
    app, server = launch(port=free_port(), models=models, block=False)  # the app as it runs, for its memory
    with tempfile.TemporaryDirectory() as tmp:
        speech_rate_hz = 48000
        speech = load_audio(media.make_speech_wav(Path(tmp) / "speech.wav", silence_after_s=PAUSE_BETWEEN_TURNS_S),
                            speech_rate_hz)
        frame = np.asarray(Image.open(media.make_face_png(Path(tmp) / "face.png")).convert("RGB"))

    repeats = 2 if quick else 5
    session = LiveSession(models, background_turns=True, drop_frames_while_busy=True)
    session.set_consent("camera", True)
    session.set_consent("microphone", True)
    session.on_frame(frame)  # builds the face tracker outside the timed part

    streaming = threading.Event()
    streaming.set()

    def microphone() -> None:  # real time, as the browser sends it
        step = int(CHUNK_S * speech_rate_hz)
        started = time.perf_counter()
        sent_s = 0.0
        for _ in range(repeats):
            for start in range(0, len(speech), step):
                session.on_audio_chunk(speech[start:start + step], speech_rate_hz)
                sent_s += CHUNK_S
                time.sleep(max(0.0, started + sent_s - time.perf_counter()))
        streaming.clear()

    mic = threading.Thread(target=microphone, daemon=True)
    started = time.perf_counter()
    mic.start()
    offered = 0
    # frames analysed and seconds, apart for the time a turn is worked out (the face slows on purpose then)
    analysed, seconds = {False: 0, True: 0}, {False: 0.0, True: 0.0}
    while streaming.is_set():  # a camera at CAMERA_FPS; a frame that comes due while one is analysed is skipped
        offered += 1
        turn = session.turn_in_progress()
        before, since = session.counters["frames_analyzed"], time.perf_counter()
        session.on_frame(frame)
        next_due = started + offered / CAMERA_FPS
        if time.perf_counter() < next_due:
            time.sleep(next_due - time.perf_counter())
        else:
            offered = int((time.perf_counter() - started) * CAMERA_FPS)
        analysed[turn] += session.counters["frames_analyzed"] - before
        seconds[turn] += time.perf_counter() - since
    session.wait_idle(120.0)
    waits = [t.speech_end_to_reply_s for t in session.turns if t.reply is not None and t.speech_end_to_reply_s]
    writing = [t.reply.latency_s for t in session.turns if t.reply is not None and t.speech_end_to_reply_s]
    figures = {
        "demo_face_fps_while_audio_streams": round(analysed[False] / seconds[False], 2) if seconds[False] else 0.0,
        "demo_face_fps_while_a_turn_is_worked_out": round(analysed[True] / seconds[True], 2) if seconds[True] else 0.0,
        "demo_face_fps_offered": CAMERA_FPS,
        "demo_speech_end_to_reply_s_median": round(statistics.median(waits), 3) if waits else float("nan"),
        "demo_reply_writing_s_median": round(statistics.median(writing), 3) if writing else float("nan"),
        "demo_turns_answered": float(len(waits)),
        "demo_app_rss_mb": round(rss_mb(), 1),
    }
    session.close()
    figures.update(browser_turns(server, cast(str, app.local_url), turns=2 if quick else 6))  # gradio: set by launch
    app.close()
    server.close()
    return figures


def browser_turns(server, url: str, turns: int) -> dict[str, float]:
    """Spoken turns in the real browser, timed from inside the page (benchmarks/browser_page.py)."""
    from benchmarks import browser_page
    from ui.panel_text import THINKING

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "samples"))
    import make_browser_samples as media

    with tempfile.TemporaryDirectory() as tmp:
        y4m = media.make_face_y4m(Path(tmp) / "face.y4m")
        wav = media.make_speech_wav(Path(tmp) / "speech.wav", silence_after_s=PAUSE_BETWEEN_TURNS_S)
        known = set(server.sessions)
        with browser_page.open_page(url, y4m, wav) as page:
            page.locator("#consent-camera input").check()
            page.locator("#consent-microphone input").check()
            browser_page.wait_for(lambda: set(server.sessions) - known, "the browser's session", 30)
            session = server.sessions[next(iter(set(server.sessions) - known))]
            browser_page.wait_for(lambda: session.counters["replies"] >= turns, f"{turns} spoken replies",
                                  60.0 + 20.0 * turns)
            replies = [t.reply.text for t in session.turns if t.reply is not None and t.source == "voice"]
            browser_page.wait_for(lambda: replies[turns - 1] in page.locator("#chat").inner_text(),
                                  "the last reply on screen", 20)
            timings = browser_page.spoken_turn_timings(page, session.turns[0].text, replies[:turns], THINKING)
        # The looping microphone queued more turns: drop them and let a reply being written finish, so the LLM is
        # not closed under a running generation.
        session.set_consent("microphone", False)
        session.wait_idle(120.0)

    def median(key: str) -> float:
        values = [t[key] for t in timings if t[key] == t[key]]
        return round(statistics.median(values), 3) if values else float("nan")

    return {"demo_browser_speech_end_to_words_s_median": median("words_s"),
            "demo_browser_speech_end_to_thinking_s_median": median("thinking_s"),
            "demo_browser_speech_end_to_first_word_s_median": median("first_word_s"),
            "demo_browser_speech_end_to_whole_reply_s_median": median("whole_reply_s"),
            "demo_browser_turns_timed": float(len(timings))}


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv))
