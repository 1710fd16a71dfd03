"""Shared by the rating tests: a small manifest of conversations written for the tests (with reference replies), and
a run folder made from it by the real `empathic evaluate` with template replies against the human ones (no LLM, so
it takes about a second)."""

from __future__ import annotations

import json
from pathlib import Path

CONTEXTS = [
    {"id": "t/1", "text": "My sister had her baby last night and I get to meet her tomorrow!",
     "context": None, "label": "joy", "reference_reply": "Congratulations, auntie! What's the baby's name?"},
    {"id": "t/2", "text": "Yes, he was fourteen. The house is so quiet without him.",
     "context": ["Our old dog died on Sunday.", "I'm so sorry. Had you had him long?"], "label": "sadness",
     "reference_reply": "Fourteen years is a whole chapter of life. What do you miss most about him?"},
    {"id": "t/3", "text": "I have a job interview on Friday and I can't stop thinking about it.",
     "context": None, "label": "fear", "reference_reply": "Interviews are nerve-racking. What's the job?"},
    {"id": "t/4", "text": "My landlord kept my whole deposit for a scratch on the door.",
     "context": None, "label": "anger", "reference_reply": "That's so unfair. Can you dispute it?"},
]


def write_contexts(folder: Path, rows: list[dict] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "contexts.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in (rows if rows is not None else CONTEXTS)))
    return path


def make_template_run(folder: Path, limit: int | None = None) -> Path:
    """A run folder: A = template replies (backend=none), B = the human reference replies."""
    from ui.cli import main

    out = folder / "run"
    argv = ["evaluate", str(write_contexts(folder)), "--a", "backend=none,text_emotion=lexicon", "--b", "human",
            "--out", str(out), "--quiet"]
    assert main(argv + (["--limit", str(limit)] if limit else [])) == 0
    return out
