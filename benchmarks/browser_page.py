"""The demo page in a real browser, as a person meets it: Debian's headless Chromium driven by the Playwright pip
package, with fake camera and microphone devices fed from the project's browser samples. Shared by the browser test
(tests/ui/test_browser.py) and the demo benchmark (benchmarks/demo.py).

What the page does is watched from inside the page, independently of the app's own code:
- every MediaStream the page opens is kept, so a test can read each track's readyState ("live" / "ended");
- the microphone's level is read through an AnalyserNode: the moments the fake microphone's speech ends are known
  on the page's clock (performance.now());
- the conversation's text is sampled every SAMPLE_MS, so when the person's words, "thinking" and the reply appeared
  is known on the same clock.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
SAMPLE_MS = 50  # how often the page samples the chat and the microphone level
SPEECH_LEVEL_RMS = 0.01  # above this the fake microphone is speaking (espeak-ng at full scale is ~0.1)
SPEECH_END_SILENCE_MS = 400  # quiet for this long after speech: the speech ended at the last loud moment
SPEECH_MIN_MS = 300  # shorter loud stretches are clicks

WATCH_SCRIPT = """
(() => {
  const watch = {streams: [], speechEnds: [], chat: [], level: 0};
  window.__watch = watch;
  const devices = navigator.mediaDevices;
  const getUserMedia = devices.getUserMedia.bind(devices);
  let listening = false;
  const listen = (stream) => {
    if (listening) return;
    listening = true;
    const context = new AudioContext();
    const analyser = context.createAnalyser();
    analyser.fftSize = 2048;
    context.createMediaStreamSource(stream).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    let loudSince = null, lastLoud = null;
    setInterval(() => {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const s of samples) sum += s * s;
      const rms = Math.sqrt(sum / samples.length), now = performance.now();
      watch.level = rms;
      if (rms > %(level)f) {
        if (loudSince === null) loudSince = now;
        lastLoud = now;
      } else if (lastLoud !== null && now - lastLoud > %(silence)d) {
        if (lastLoud - loudSince > %(min_speech)d) watch.speechEnds.push(lastLoud);
        loudSince = null; lastLoud = null;
      }
    }, 10);
  };
  devices.getUserMedia = async (constraints) => {
    const stream = await getUserMedia(constraints);
    watch.streams.push(stream);
    if (stream.getAudioTracks().length) listen(stream);
    return stream;
  };
  let last = null;
  setInterval(() => {
    const chat = document.getElementById('chat');
    const text = chat ? chat.innerText.replace(/[\u2018\u2019]/g, "'").replace(/[\u201c\u201d]/g, '"') : '';
    if (text !== last) { last = text; watch.chat.push([performance.now(), text]); }
  }, %(sample)d);
})();
""" % {"level": SPEECH_LEVEL_RMS, "silence": SPEECH_END_SILENCE_MS, "min_speech": SPEECH_MIN_MS,
       "sample": SAMPLE_MS}


@contextlib.contextmanager
def open_page(url: str, y4m: Path, wav: Path, viewport: tuple[int, int] = (1400, 1600)) -> Iterator:
    """A Playwright page on `url` with the fake devices, the watch script installed; closed on exit."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install chromium")
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-quic",
            "--autoplay-policy=no-user-gesture-required",
            "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={y4m}", f"--use-file-for-fake-audio-capture={wav}"]
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, permissions=["camera", "microphone"], args=args,
            viewport={"width": viewport[0], "height": viewport[1]})
        try:
            context.add_init_script(WATCH_SCRIPT)
            page = context.new_page()
            page.goto(url)
            page.wait_for_selector("#consent-camera input", timeout=30_000)
            yield page
        finally:
            context.close()


def tracks(page, kind: str) -> list[str]:
    """readyState of every track of `kind` ("video" or "audio") the page has opened."""
    return page.evaluate(f"window.__watch.streams.flatMap(s => s.getTracks()).filter(t => t.kind === '{kind}')"
                         ".map(t => t.readyState)")


def wait_for(condition: Callable[[], object], what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def spoken_turn_timings(page, said: str, replies: list[str], thinking: str) -> list[dict[str, float]]:
    """For each reply on screen: seconds from the end of the speech it answers (the microphone level, in the page)
    to the person's words on screen, to "thinking" (or the reply's opener, whichever shows first), and to the reply's
    first word and whole reply on screen.

    The speech a turn answers is the last speech end before the person's words appeared for that turn (the words
    come within a second or two of it; the sample speech repeats every ~7 s)."""
    watch = page.evaluate("({speechEnds: window.__watch.speechEnds, chat: window.__watch.chat})")
    ends, chat = watch["speechEnds"], watch["chat"]
    probe = said.split()[:3]

    timings = []
    for n, reply in enumerate(replies, start=1):
        whole = reply.strip()
        first_words = " ".join(whole.split()[:3])
        # the n-th reply is on screen when its words are there as often as in the first n replies (replies differ,
        # or repeat, from turn to turn)
        need_first = sum(r.count(first_words) for r in replies[:n])
        need_whole = sum(r.count(whole) for r in replies[:n])
        words_at = next((t for t, text in chat if text.lower().count(" ".join(probe).lower()) >= n), None)
        if words_at is None:
            continue
        reply_first = next((t for t, text in chat if t >= words_at and text.count(first_words) >= need_first), None)
        reply_whole = next((t for t, text in chat if t >= words_at and text.count(whole) >= need_whole), None)
        if reply_whole is None:
            continue
        before = [e for e in ends if e <= words_at]
        if not before:
            continue
        speech_end = before[-1]
        # the sign that a reply is coming: "thinking", or the reply's opener already (it can replace "thinking"
        # before the page shows it)
        thinking_at = next((t for t, text in chat if t >= words_at and (thinking in text or first_words in text)),
                           None)
        timings.append({
            "words_s": round((words_at - speech_end) / 1000, 3),
            "thinking_s": round((thinking_at - speech_end) / 1000, 3) if thinking_at else float("nan"),
            "first_word_s": round(((reply_first or reply_whole) - speech_end) / 1000, 3),
            "whole_reply_s": round((reply_whole - speech_end) / 1000, 3),
        })
    return timings
