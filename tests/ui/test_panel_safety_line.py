"""The live emotion panel's one safety line (ui/panel_text.py details_markdown)."""

from __future__ import annotations

from ui.panel_text import details_markdown as render_details


def snapshot(safety=None) -> dict:
    shown = {"state": None, "views": {"text": None, "voice": None, "face": None}, "problems": [], "consent": {}}
    if safety is not None:
        shown["safety"] = safety
    return shown


def test_the_panel_shows_the_last_replys_safety_level_and_reason():
    text = render_details(snapshot(("concern", 'detector p=0.55 on "so tired of everything"')))
    assert "**Safety:** concern (detector p=0.55" in text
    assert "**Safety:** none" in render_details(snapshot(("none", "")))
    assert "**Safety:** none" in render_details(snapshot())  # an older snapshot without the key
