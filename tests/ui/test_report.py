"""report.html and timeline.png of a timeline: the transcript with replies, each modality and the fused state,
incongruent moments marked; text escaped; an empty timeline still gives a report."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

from PIL import Image

from ui.report import conversation, timeline_png, write_report
from ui.timeline_file import load_events

SAMPLE_EVENTS = Path(__file__).resolve().parents[2] / "samples" / "session_demo" / "events.jsonl"


def _state(t_s: float, label: str, valence: float, incongruent: bool = False) -> dict:
    return {"kind": "state", "t_s": t_s, "label": label, "valence": valence, "arousal": 0.2, "confidence": 0.6,
            "incongruent": incongruent, "why": "x", "probs": {}}


def _red_pixels(png: bytes) -> int:
    pixels = Image.open(io.BytesIO(png)).convert("RGB")
    array = __import__("numpy").asarray(pixels).astype(int)
    # the incongruent span: red at alpha 0.18 over white is about (255, 209, 209)
    return int(((array[:, :, 0] > 240) & (abs(array[:, :, 1] - 209) < 12) & (abs(array[:, :, 2] - 209) < 12)).sum())


def test_the_sample_sessions_report_has_the_conversation_and_an_embedded_timeline(tmp_path):
    report = write_report(SAMPLE_EVENTS, tmp_path, title="sample")
    html = report.read_text()
    events = load_events(SAMPLE_EVENTS)[0]
    for e in events:
        if e["kind"] in ("transcript", "reply"):
            assert e["text"].replace("'", "&#x27;")[:40] in html
    png = (tmp_path / "timeline.png").read_bytes()
    embedded = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html).group(1)
    assert base64.b64decode(embedded) == png
    image = Image.open(io.BytesIO(png))
    assert image.size[0] >= 1000 and image.size[1] >= 600
    rows = conversation(events)
    assert [r["who"] for r in rows] == ["person (spoken)", "agent"] * 3
    assert all("fused:" in r["reading"] for r in rows if r["who"].startswith("person"))


def test_incongruent_moments_are_marked_in_the_plot_and_the_table(tmp_path):
    events = [_state(0.0, "joy", 0.8), {"kind": "transcript", "t_s": 2.0, "t_start_s": 1.0, "t_end_s": 2.0,
                                        "text": "I'm fine"},
              {"kind": "text", "t_s": 2.0, "label": "joy", "confidence": 0.9, "valence": 0.7, "arousal": 0.1},
              _state(2.0, "sadness", -0.5, incongruent=True), _state(2.2, "sadness", -0.5, incongruent=True),
              {"kind": "face", "t_s": 2.1, "label": "sadness", "confidence": 0.7, "valence": -0.7, "arousal": 0},
              {"kind": "reply", "t_s": 3.0, "text": "That sounds hard.", "appraisal": {"emotion": "sadness",
                                                                                     "need": "to be heard"}}]
    calm = [e for e in events if not e.get("incongruent")]
    assert _red_pixels(timeline_png(events)) > 500 > _red_pixels(timeline_png(calm))
    html = write_report(events, tmp_path).read_text()
    assert "<tr class='incongruent'>" in html and "(incongruent)" in html and "1 incongruent" not in html
    assert "2 incongruent" in html


def test_text_is_escaped_and_an_empty_timeline_still_reports(tmp_path):
    events = [{"kind": "transcript", "t_s": 1.0, "text": "<script>alert(1)</script> & more"}]
    html = write_report(events, tmp_path / "a").read_text()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in html
    empty = write_report([], tmp_path / "b").read_text()
    assert "No turns" in empty and (tmp_path / "b" / "timeline.png").stat().st_size > 1000


def test_the_reply_row_says_because_and_whose_words(tmp_path):
    from ui.report import because, conversation

    events = [{"kind": "text", "t_s": 1.0, "source": "text", "text": "Really? I can't believe it!", "label": "surprise",
               "confidence": 0.8},
              {"kind": "reply", "t_s": 2.0, "text": "That is a lot to take in.", "route": "fallback",
               "appraisal": {"emotion": "surprise", "need": "to_be_heard", "cause": "his wife found out",
                             "cause_turn": -1, "cause_speaker": "agent"}}]
    rows = conversation(events)
    assert 'because: "his wife found out" (the agent\'s words, 1 turn back)' in rows[-1]["reading"]
    assert because({"cause": "my dog died", "cause_turn": 0, "cause_speaker": "user"}) == 'because: "my dog died"'
    assert because({"cause": ""}) == "" and because({"cause": "x", "cause_turn": -2}).endswith("2 turns back)")
    html = write_report(events, tmp_path / "r").read_text()
    assert "because: &quot;his wife found out&quot;" in html
