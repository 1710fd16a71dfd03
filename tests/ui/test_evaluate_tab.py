"""The Evaluate tab: through gradio_client (start, blind order, save, resume, several raters, bad input, report) and
in a real Chromium (three pairs rated with the keyboard only; ratings.jsonl holds them; the report counts them).

The tab is served on its own (a gr.Blocks with build_evaluate_tab, on 127.0.0.1 and a free port): it needs none of
the live demo's models. The run folder comes from the real `empathic evaluate` (template replies against the human
reference replies: no LLM)."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import pytest
from app_helpers import free_port

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "evaluation"))

from rating_helpers import CONTEXTS, make_template_run

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = Path(__file__).parent / "artifacts" / "evaluate_tab.png"  # the README's samples/screenshots copy
pytestmark = pytest.mark.slow  # a served app (and, for one test, a browser)


@pytest.fixture(scope="module")
def tab_app(tmp_path_factory):
    """(url, the folder of runs, the run folder) with the tab served on its own."""
    import gradio as gr

    from ui.evaluate_tab import build_evaluate_tab

    root = tmp_path_factory.mktemp("evaluations")
    run = make_template_run(root)
    with gr.Blocks() as app:
        build_evaluate_tab(run_dirs=[root])
    port = free_port()
    app.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/", root, run
    app.close()


def _reply_of(run: Path, item: str, side: str) -> str:
    rows = [json.loads(line) for line in (run / "replies.jsonl").read_text().splitlines()]
    return next(r[side]["reply"] for r in rows if r["id"] == item)


def test_a_rater_sees_pairs_blind_saves_them_and_resumes(tab_app):
    from gradio_client import Client

    url, _, run = tab_app
    client = Client(url, verbose=False)
    out = client.predict(str(run), "Dana", api_name="/evaluate_start")
    progress, context, left, right = out[:4]  # the State output stays on the server
    assert "pair 1 of 4" in progress and "Dana" in progress
    assert CONTEXTS[0]["text"] in context
    assert {left, right} == {_reply_of(run, "t/1", "a"), _reply_of(run, "t/1", "b")}
    assert "human" not in progress + context and "backend" not in progress + context  # no names on screen
    # left is better, left 4/4/5, right 2/3/5
    out = client.predict("left", 4, 4, 5, 2, 3, 5, api_name="/evaluate_save")
    assert "pair 2 of 4" in out[0] and CONTEXTS[1]["text"] in out[1] and "Saved pair 1" in out[-1]
    assert CONTEXTS[1]["context"][0] in out[1]  # the earlier turns are shown
    saved = [json.loads(line) for line in (run / "ratings.jsonl").read_text().splitlines()]
    mine = [s for s in saved if s["rater"] == "Dana"]
    assert len(mine) == 1 and mine[0]["item"] == "t/1" and mine[0]["choice"] == "left"
    shown_left = mine[0]["left"]
    assert _reply_of(run, "t/1", shown_left) == left and mine[0]["winner"] == shown_left
    assert mine[0]["scores"][shown_left] == {"empathy": 4, "relevance": 4, "safety": 5}
    # a new browser session with the same name resumes at pair 2; another rater starts at pair 1
    again = Client(url, verbose=False)
    assert "pair 2 of 4 (1 rated so far)" in again.predict(str(run), "Dana", api_name="/evaluate_start")[0]
    assert "pair 1 of 4" in again.predict(str(run), "Eli", api_name="/evaluate_start")[0]


def test_a_missing_answer_or_a_bad_folder_is_one_clear_message(tab_app):
    from gradio_client import Client

    url, root, run = tab_app
    client = Client(url, verbose=False)
    with pytest.raises(Exception, match="type your name"):
        client.predict(str(run), "  ", api_name="/evaluate_start")
    with pytest.raises(Exception, match="not an evaluate run folder"):
        client.predict(str(root), "Fay", api_name="/evaluate_start")
    with pytest.raises(Exception, match="start first"):
        client.predict("left", 4, 4, 5, 2, 3, 5, api_name="/evaluate_save")
    client.predict(str(run), "Fay", api_name="/evaluate_start")
    with pytest.raises(Exception, match="pick the better reply"):
        client.predict(None, 4, 4, 5, 2, 3, 5, api_name="/evaluate_save")
    with pytest.raises(Exception, match="rate relevance of the right reply"):
        client.predict("tie", 4, 4, 5, 2, None, 5, api_name="/evaluate_save")
    ratings = (run / "ratings.jsonl").read_text() if (run / "ratings.jsonl").exists() else ""
    assert "Fay" not in ratings


def test_the_report_button_writes_the_report(tab_app):
    from gradio_client import Client

    url, _, run = tab_app
    client = Client(url, verbose=False)
    client.predict(str(run), "Gus", api_name="/evaluate_start")
    for _ in range(4):
        client.predict("tie", 3, 3, 5, 3, 3, 5, api_name="/evaluate_save")
    summary, preference_png, likert_png, html_file = client.predict(str(run), api_name="/evaluate_report")
    report = json.loads((run / "report.json").read_text())
    assert report["raters"]["Gus"] == 4 and f"{report['preference']['judgements']} judgements" in summary
    assert Path(preference_png).read_bytes()[:4] == b"\x89PNG" and Path(likert_png).read_bytes()[:4] == b"\x89PNG"
    assert "Blind pairwise rating" in Path(html_file).read_text()
    assert "all 4 pairs of this run are rated" in client.predict(str(run), "Gus", api_name="/evaluate_start")[0]


def test_three_pairs_rated_with_the_keyboard_in_chromium(tmp_path):
    """A fresh run, one rater, only keys after the name: 1/2/0 then six digits then Enter, three times."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
    import gradio as gr

    from ui.evaluate_tab import build_evaluate_tab

    run = make_template_run(tmp_path)
    with gr.Blocks() as app:
        gr.Markdown("## Empathic agent")
        with gr.Tabs():
            with gr.Tab("Live"):
                gr.Markdown("(the live demo)")
            build_evaluate_tab(run_dirs=[tmp_path])
    port = free_port()
    app.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    keys = [("1", "45524353"), ("2", "33534555"), ("0", "44544454")]  # choice, then six ratings (two spare digits)
    try:
        with sync_api.sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
            context = playwright.chromium.launch_persistent_context(
                profile, executable_path=str(CHROMIUM), headless=True, viewport={"width": 1280, "height": 1500},
                args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"])
            try:
                page = context.new_page()
                page.goto(f"http://127.0.0.1:{port}/")
                page.get_by_role("tab", name="Evaluate").click()
                page.locator("#eval-run input").fill(str(run))
                page.locator("#eval-run input").press("Enter")
                page.locator("#eval-rater textarea, #eval-rater input").first.fill("Hana")
                page.locator("#eval-start").click()
                page.wait_for_function("document.querySelector('#eval-progress').innerText.includes('pair 1 of 4')",
                                       timeout=30_000)
                page.locator("#eval-start").blur()
                for number, (choice, ratings) in enumerate(keys, start=1):
                    page.wait_for_function("!document.querySelector('#evaluate-tab input:checked')",
                                           timeout=10_000)  # a new pair starts with no answer
                    page.keyboard.press(choice)
                    for digit in ratings[:6]:
                        page.keyboard.press(digit)
                    page.wait_for_function("document.querySelectorAll('#eval-right-safety input:checked').length",
                                           timeout=10_000)
                    if number == 3:
                        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                        page.screenshot(path=str(SCREENSHOT), full_page=True)
                    page.keyboard.press("Enter")
                    page.wait_for_function(
                        f"document.querySelector('#eval-progress').innerText.includes('pair {number + 1} of 4')",
                        timeout=30_000)
                page.locator("#eval-report").click()
                page.wait_for_function(
                    "document.querySelector('#eval-report-summary').innerText.includes('3 judgements')",
                    timeout=60_000)
            finally:
                context.close()
    finally:
        app.close()
    saved = [json.loads(line) for line in (run / "ratings.jsonl").read_text().splitlines()]
    assert [s["item"] for s in saved] == ["t/1", "t/2", "t/3"] and {s["rater"] for s in saved} == {"Hana"}
    assert [s["choice"] for s in saved] == ["left", "right", "tie"]
    for entry, (_, ratings) in zip(saved, keys):
        right = "b" if entry["left"] == "a" else "a"
        typed = [int(d) for d in ratings[:6]]
        assert [entry["scores"][entry["left"]][a] for a in ("empathy", "relevance", "safety")] == typed[:3]
        assert [entry["scores"][right][a] for a in ("empathy", "relevance", "safety")] == typed[3:]
    report = json.loads((run / "report.json").read_text())
    assert report["preference"]["judgements"] == 3 and report["raters"] == {"Hana": 3}
    assert report["preference"]["ties"] == 1
