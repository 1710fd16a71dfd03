"""The demo in a real browser: Chromium (headless, Debian's /usr/bin/chromium driven by the Playwright pip package)
with fake camera and microphone devices fed from project media, as a person would use it.

Media: the astronaut's smile as the camera (a y4m) and espeak-ng speech with silence after it as the microphone.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
WAIT_S = 90.0  # a turn is ~5 s of speech and ~3 s of work; the rest is headroom for a loaded 2-core machine


@contextlib.contextmanager
def browser_page(url: str, media: dict):
    from playwright import sync_api

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-quic",
            "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={media['y4m']}", f"--use-file-for-fake-audio-capture={media['wav']}"]
    with sync_api.sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, permissions=["camera", "microphone"], args=args,
            viewport={"width": 1400, "height": 1700})
        try:
            page = context.new_page()
            page.goto(url)
            page.wait_for_selector("#consent-camera input", timeout=30_000)
            yield page
        finally:
            context.close()


def this_browser_session(server, known: set[str], timeout_s: float = 15.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        new = [key for key in list(server.sessions) if key not in known]
        if new:
            return server.sessions[new[0]]
        time.sleep(0.1)
    raise AssertionError("the browser never opened a session on the server")


def start_streams(page) -> None:
    page.get_by_text("Click to Access Webcam").click()
    page.locator("#webcam button.capture-button").click(timeout=15_000)
    page.locator("#mic").get_by_role("button", name="Record").click(timeout=15_000)


def wait_for(condition, what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def test_camera_and_microphone_give_a_face_reading_a_transcript_and_a_reply(served, browser_media):
    url, server = served
    known = set(server.sessions)
    with browser_page(url, browser_media) as page:
        for name in ("camera", "microphone", "store"):
            expect_label = page.locator(f"#consent-{name}")
            assert name in expect_label.inner_text().lower()  # the toggles say what they are
        assert "does **not** feel" not in page.locator("#notice").inner_text()  # rendered, not raw markdown
        assert "not feel emotions" in page.locator("#notice").inner_text()
        assert "Nothing leaves this machine" in page.locator("#status").inner_text()
        page.locator("#consent-camera input").check()
        page.locator("#consent-microphone input").check()
        session = this_browser_session(server, known)
        wait_for(lambda: session.consent.allows("camera") and session.consent.allows("microphone"), "consent")
        start_streams(page)

        wait_for(lambda: re.search(r"joy\s*\d", page.locator("#view-face").inner_text()) is not None,
                 "the face panel to show joy")
        wait_for(lambda: "happy" in page.locator("#transcript").inner_text().lower(), "the transcript")
        wait_for(lambda: session.counters["replies"] >= 1, "a reply")
        reply = next(turn.reply.text for turn in session.turns if turn.reply is not None)
        wait_for(lambda: reply[:20] in page.locator("#chat").inner_text(), "the reply on screen")
        time.sleep(2.5)  # one more refresh so the timeline plot holds the turn
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "browser_demo.png"), full_page=True)

    counters = session.counters
    assert counters["frames_analyzed"] >= 3 and counters["faces_found"] >= 3
    assert counters["utterances"] >= 1 and counters["audio_chunks_dropped_no_consent"] == 0
    assert [c.name for c in session.consent.ledger] == ["camera", "microphone"]


def test_with_the_camera_off_the_server_analyses_no_frame(served, browser_media):
    url, server = served
    known = set(server.sessions)
    with browser_page(url, browser_media) as page:
        page.locator("#consent-microphone input").check()  # microphone yes, camera no
        session = this_browser_session(server, known)
        wait_for(lambda: session.consent.allows("microphone"), "microphone consent")
        start_streams(page)
        wait_for(lambda: session.counters["replies"] >= 1 and session.counters["frames_received"] >= 10,
                 "a spoken reply while the webcam streams")
        assert "no reading" in page.locator("#details").inner_text().lower().split("face:")[-1]
    counters = session.counters
    assert counters["frames_analyzed"] == 0 and counters["faces_found"] == 0
    assert counters["frames_dropped_no_consent"] == counters["frames_received"] >= 10
    assert session.last_face is None
