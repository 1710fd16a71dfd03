"""The live emotion panel's one safety line (ui/app.py render_details)."""

from __future__ import annotations

from ui.app import render_details


def snapshot(safety=None) -> dict:
    shown = {"state": None, "views": {"text": None, "voice": None, "face": None}, "problems": []}
    if safety is not None:
        shown["safety"] = safety
    return shown


def test_the_panel_shows_the_last_replys_safety_level_and_reason():
    text = render_details(snapshot(("concern", 'detector p=0.55 on "so tired of everything"')))
    assert "**Safety:** concern (detector p=0.55" in text
    assert "**Safety:** none" in render_details(snapshot(("none", "")))
    assert "**Safety:** none" in render_details(snapshot())  # an older snapshot without the key
