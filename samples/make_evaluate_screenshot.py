"""The README's screenshot of the Evaluate tab: `python samples/make_evaluate_screenshot.py RUN_DIR [RATER]`.

RUN_DIR is a run written by `empathic evaluate` (the README's: `empathic evaluate --a coe=cbt --b human --limit 3
--out RUN_DIR`). The tab is served alone on 127.0.0.1 and a free port; headless Chromium (/usr/bin/chromium) types the
rater's name, starts, and presses 1 4 5 5 on the pair it shows. Nothing is saved (Enter is never pressed).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "samples" / "screenshots" / "evaluate_tab.png"


def main(run: Path, rater: str = "Ana") -> Path:
    import gradio as gr
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "tests" / "ui"))
    from app_helpers import free_port

    from ui.evaluate_tab import build_evaluate_tab

    with gr.Blocks() as app:
        with gr.Tabs():
            with gr.Tab("Live"):
                gr.Markdown("(the live demo)")
            build_evaluate_tab(run_dirs=[run.parent])
    port = free_port()
    app.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                                 args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 1200})
            page.goto(f"http://127.0.0.1:{port}/")
            page.get_by_role("tab", name="Evaluate").click()
            page.locator("#eval-run input").fill(str(run))
            page.locator("#eval-run input").press("Enter")
            page.locator("#eval-rater textarea, #eval-rater input").first.fill(rater)
            page.locator("#eval-start").click()
            page.wait_for_function("document.querySelector('#eval-progress').innerText.includes('pair ')",
                                   timeout=60_000)
            page.locator("#eval-start").blur()
            for key in "1455":
                page.keyboard.press(key)
            time.sleep(1)
            OUT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(OUT), clip={"x": 0, "y": 0, "width": 1280, "height": 1060})
            browser.close()
    finally:
        app.close()
    return OUT


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python samples/make_evaluate_screenshot.py RUN_DIR [RATER]")
    print(main(Path(sys.argv[1]).resolve(), *(sys.argv[2:3])))
