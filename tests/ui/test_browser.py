"""The demo in a real browser: Chromium (headless, Debian's /usr/bin/chromium driven by the Playwright pip package)
with fake camera and microphone devices fed from project media, used as a person would: tick a toggle, talk, look.

Media: the astronaut's smile as the camera (a y4m) and espeak-ng speech with silence after it as the microphone.
The page is watched from inside (benchmarks/browser_page.py): the tracks it opened, when its microphone's speech
ended, when the conversation changed.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from pathlib import Path

import pytest

from benchmarks import browser_page
from benchmarks.browser_page import tracks, wait_for
from ui import panel_text

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).parent / "artifacts"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "samples" / "screenshots"
WAIT_S = 90.0  # a turn is ~5 s of speech and ~3 s of work; the rest is headroom for a loaded 2-core machine


@contextlib.contextmanager
def browser_page_at(url: str, media: dict, viewport: tuple[int, int] = (1400, 1600)):
    if not browser_page.CHROMIUM.exists():
        pytest.fail(f"{browser_page.CHROMIUM} is missing: apt-get install chromium")
    with browser_page.open_page(url, media["y4m"], media["wav"], viewport) as page:
        try:
            yield page
        except BaseException:
            ARTIFACTS.mkdir(exist_ok=True)  # what the page looked like when it failed
            page.screenshot(path=str(ARTIFACTS / "browser_failure.png"), full_page=True)
            buttons = page.evaluate("[...document.querySelectorAll('#mic button, #webcam button')]"
                                    ".map(b => b.className.split(' ')[0] + ': ' + b.textContent.trim())")
            (ARTIFACTS / "browser_failure.txt").write_text("\n".join(buttons) + "\n")
            raise


def shown_text(page, selector: str) -> str:
    """The text as shown, with the typographic quotes Gradio's Markdown puts in turned back into plain ones."""
    text = page.locator(selector).inner_text()
    return text.translate({0x2018: "'", 0x2019: "'", 0x201C: '"', 0x201D: '"'})


def settled(count, what: str, quiet_s: float = 1.0, timeout_s: float = 10.0) -> int:
    """The count once it has not moved for `quiet_s`: a request the page sent just before its device stopped can
    reach a busy server a moment later (it is dropped there: consent is off), and is not the device still sending.
    A device that keeps sending never settles: that fails."""
    value, since = count(), time.monotonic()
    deadline = since + timeout_s
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = count()
        if now != value:
            value, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return value
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}: the count kept moving")


def this_browser_session(server, known: set[str], timeout_s: float = 15.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        new = [key for key in list(server.sessions) if key not in known]
        if new:
            return server.sessions[new[0]]
        time.sleep(0.1)
    raise AssertionError("the browser never opened a session on the server")


def test_camera_and_microphone_in_one_action_each_give_a_face_reading_a_transcript_and_a_reply(served,
                                                                                               browser_media):
    url, server = served
    known = set(server.sessions)
    with browser_page_at(url, browser_media) as page:
        for name in ("camera", "microphone", "store"):
            assert name in page.locator(f"#consent-{name}").inner_text().lower()  # the toggles say what they are
        assert "turn on my webcam" in page.locator("#consent-camera").inner_text()
        assert "does **not** feel" not in page.locator("#notice").inner_text()  # rendered, not raw markdown
        assert "not feel emotions" in page.locator("#notice").inner_text()
        assert "Nothing leaves this machine" in page.locator("#status").inner_text()
        assert not page.locator("#forget-session").is_visible()  # nothing stored: nothing to forget
        assert page.get_by_role("tab").first.inner_text().strip() == "Live"
        # one action each: no "Click to Access Webcam", no "Record"
        page.locator("#consent-camera input").check()
        page.locator("#consent-microphone input").check()
        session = this_browser_session(server, known)
        wait_for(lambda: session.consent.allows("camera") and session.consent.allows("microphone"), "consent", 15)
        wait_for(lambda: session.counters["frames_analyzed"] >= 3, "frames reaching the face model", 60)
        wait_for(lambda: session.counters["audio_chunks_processed"] >= 4, "audio reaching the session", 60)
        assert not page.get_by_text("Record", exact=True).is_visible()
        assert tracks(page, "video") and all(state == "live" for state in tracks(page, "video"))

        wait_for(lambda: re.search(r"joy", page.locator("#view-face").inner_text()) is not None,
                 "the face panel to show joy", WAIT_S)
        wait_for(lambda: session.report()["transcripts"], "a transcript", WAIT_S)
        heard = session.report()["transcripts"][0]
        wait_for(lambda: heard in shown_text(page, "#transcript"), f"the transcript ({heard!r})", 10)
        wait_for(lambda: session.counters["replies"] >= 2, "two spoken replies", WAIT_S * 2)
        replies = [turn.reply.text for turn in session.turns if turn.reply is not None and turn.source == "voice"]
        wait_for(lambda: replies[1] in shown_text(page, "#chat"), "the second reply on screen", 90)
        time.sleep(2.5)  # one more refresh so the timeline plot holds the turns
        ARTIFACTS.mkdir(exist_ok=True)
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "tab_live.png"), full_page=True)

        said = session.turns[0].text
        timings = browser_page.spoken_turn_timings(page, said, replies[:2], panel_text.THINKING)
        (ARTIFACTS / "spoken_turn_timings.json").write_text(json.dumps(timings, indent=1))
        assert timings, "no spoken turn could be timed from the page"
        for timing in timings:  # the order a person sees: their words, thinking, the reply
            assert 0 < timing["words_s"] <= timing["thinking_s"] <= timing["whole_reply_s"]
            assert timing["first_word_s"] <= timing["whole_reply_s"]
        # the chat never showed a reply's words and then took them back
        history = page.evaluate("window.__watch.chat.map(x => x[1])")
        for reply in replies[:2]:
            shown = [i for i, text in enumerate(history) if reply in text]
            assert shown and all(reply in text for text in history[shown[0]:]) or reply in history[-1]

    counters = session.counters
    assert counters["frames_analyzed"] >= 3 and counters["faces_found"] >= 3
    assert counters["utterances"] >= 1 and counters["audio_chunks_dropped_no_consent"] == 0
    assert [c.name for c in session.consent.ledger] == ["camera", "microphone"]


def test_consent_off_stops_the_devices_in_the_browser_and_clears_what_they_showed(served, browser_media):
    url, server = served
    known = set(server.sessions)
    with browser_page_at(url, browser_media) as page:
        page.locator("#consent-camera input").check()
        page.locator("#consent-microphone input").check()
        session = this_browser_session(server, known)
        wait_for(lambda: session.counters["faces_found"] >= 2, "face readings", 60)
        wait_for(lambda: "joy" in page.locator("#view-face").inner_text(), "the face panel", 30)
        wait_for(lambda: tracks(page, "audio") and all(s == "live" for s in tracks(page, "audio")), "the mic", 15)

        page.locator("#consent-camera input").uncheck()
        wait_for(lambda: all(state == "ended" for state in tracks(page, "video")), "the video track to end", 5)
        wait_for(lambda: not page.locator("#webcam").is_visible(), "the webcam to go", 30)
        wait_for(lambda: "joy" not in page.locator("#view-face").inner_text(), "the face panel to clear", 30)
        wait_for(lambda: "camera off" in page.locator("#details").inner_text(), "the face line to say off", 30)
        received = settled(lambda: session.counters["frames_received"], "frames already sent to arrive")
        time.sleep(1.5)
        assert session.counters["frames_received"] == received  # the browser sends nothing more
        assert session.last_face is None and not [e for e in session.timeline() if e["kind"] == "face"]

        page.locator("#consent-microphone input").uncheck()
        wait_for(lambda: all(state == "ended" for state in tracks(page, "audio")), "the audio tracks to end", 5)
        wait_for(lambda: "microphone off" in page.locator("#transcript").inner_text(), "Heard to say off", 30)
        chunks = settled(lambda: session.counters["audio_chunks_received"], "chunks already sent to arrive")
        time.sleep(1.5)
        assert session.counters["audio_chunks_received"] == chunks
        assert all(state == "ended" for state in tracks(page, "video") + tracks(page, "audio"))

        page.locator("#consent-camera input").check()  # and back on, in one action
        wait_for(lambda: "live" in tracks(page, "video"), "a new live video track", 15)
        wait_for(lambda: session.counters["frames_received"] > received, "frames again", 30)


def test_with_the_camera_off_the_server_analyses_no_frame(served, browser_media):
    url, server = served
    known = set(server.sessions)
    with browser_page_at(url, browser_media) as page:
        page.locator("#consent-microphone input").check()  # microphone yes, camera no
        session = this_browser_session(server, known)
        wait_for(lambda: session.counters["audio_chunks_processed"] >= 4, "audio reaching the session", 60)
        wait_for(lambda: session.counters["replies"] >= 1, f"a spoken reply ({session.counters})", WAIT_S * 2)
        assert "camera off" in page.locator("#details").inner_text().lower()
        assert tracks(page, "video") == []  # the page never opened the camera
    counters = session.counters
    assert counters["frames_analyzed"] == 0 and counters["faces_found"] == 0 and counters["frames_received"] == 0
    assert session.last_face is None


def test_replay_and_ablation_tabs_run_the_bundled_samples_in_one_click(served, browser_media):
    url, server = served
    with browser_page_at(url, browser_media, viewport=(1400, 1000)) as page:
        tabs = [t.inner_text().strip() for t in page.get_by_role("tab").all()]
        assert tabs[:3] == ["Live", "Replay", "Ablation"]

        page.get_by_role("tab", name="Replay").click()
        page.locator("#replay-sample").click()
        wait_for(lambda: "Replayed" in page.locator("#replay-summary").inner_text(), "the sample replayed", 240)
        summary = page.locator("#replay-summary").inner_text()
        assert "the sample session" in summary and "missing" not in summary
        wait_for(lambda: page.locator("#replay-timeline img").is_visible(), "the timeline picture", 30)
        assert page.locator(".error").count() == 0  # no red badges
        page.screenshot(path=str(SCREENSHOTS / "tab_replay.png"), full_page=True)

        page.get_by_role("tab", name="Ablation").click()
        page.get_by_text("Or your own manifest").click()
        page.locator("#ablation-run").click()  # no manifest chosen: one line, no badges
        wait_for(lambda: "Could not run" in page.locator("#ablation-summary").inner_text(), "the error line", 30)
        assert page.locator(".error").count() == 0
        page.locator("#ablation-sample").click()
        wait_for(lambda: "bundled_samples.jsonl" in page.locator("#ablation-summary").inner_text(),
                 "the sample ablation", 300)
        wait_for(lambda: page.locator("#ablation-confusions img").is_visible(), "the confusion matrices", 30)
        width = page.locator("#ablation-confusions img").bounding_box()["width"]
        assert width >= 900  # shown across the page, where its labels can be read
        page.screenshot(path=str(SCREENSHOTS / "tab_ablation.png"), full_page=True)
