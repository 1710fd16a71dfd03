"""Blind ratings of a pairwise run: DIR/ratings.jsonl, one judgement a line, appended and synced as it is made.

    {"rater": "Ana", "item": "ed/1234", "left": "b", "choice": "left", "winner": "b",
     "scores": {"a": {"empathy": 4, "relevance": 5, "safety": 5}, "b": {...}}, "time_utc": "...", "seconds": 21.3}

The rater sees the two replies as "left" and "right"; which side is left is decided per rater and item from a hash
of both (the same on every visit, different between raters), and stored, so the report maps choices back to A and
B. A rater's later judgement of the same item replaces the earlier one. The file is only ever appended to: a line
cut off by a crash is skipped when read (with a warning) and the next judgement starts on a line of its own.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from evaluation.pairwise import SIDES, read_jsonl

RATINGS_JSONL = "ratings.jsonl"
ASPECTS: tuple[str, ...] = ("empathy", "relevance", "safety")
LIKERT_MIN, LIKERT_MAX = 1, 5
CHOICES: tuple[str, ...] = ("left", "right", "tie")
MAX_RATER_CHARS = 80

_append_lock = threading.Lock()  # raters on one app share this process: one line at a time


@dataclass(frozen=True)
class Rating:
    rater: str
    item: str
    left: str  # "a" or "b": the side shown on the left
    choice: str  # what the rater saw: "left", "right" or "tie"
    scores: Mapping[str, Mapping[str, int]]  # side ("a"/"b") -> aspect -> 1..5
    time_utc: str = ""
    seconds: float | None = None

    @property
    def winner(self) -> str:
        """"a", "b" or "tie": the choice mapped back through the shown order."""
        if self.choice == "tie":
            return "tie"
        right = "b" if self.left == "a" else "a"
        return self.left if self.choice == "left" else right


def clean_rater(name: str | None) -> str:
    """The rater's name as typed, without surrounding spaces; ValueError when empty or too long."""
    cleaned = (name or "").strip()
    if not cleaned:
        raise ValueError("type your name (or a pseudonym) first: ratings are kept per rater")
    if len(cleaned) > MAX_RATER_CHARS or "\n" in cleaned:
        raise ValueError(f"the rater name must be one line of at most {MAX_RATER_CHARS} characters")
    return cleaned


def left_side(rater: str, item: str) -> str:
    """Which side is shown on the left for this rater and item: seeded by both, stable across visits/processes."""
    digest = hashlib.sha256(f"{rater}\n{item}".encode()).digest()
    return SIDES[digest[0] % 2]


def validate(rating: Rating) -> Rating:
    clean_rater(rating.rater)
    if rating.left not in SIDES:
        raise ValueError(f"left must be a or b, got {rating.left!r}")
    if rating.choice not in CHOICES:
        raise ValueError("pick the better reply first (1: left, 2: right, 0: tie)")
    for side in SIDES:
        for aspect in ASPECTS:
            value = rating.scores.get(side, {}).get(aspect)
            if isinstance(value, bool) or not isinstance(value, int) or not LIKERT_MIN <= value <= LIKERT_MAX:
                where = "left" if side == rating.left else "right"
                raise ValueError(f"rate {aspect} of the {where} reply ({LIKERT_MIN}-{LIKERT_MAX})")
    return rating


def append_rating(run_dir: Path, rating: Rating) -> None:
    """One line, flushed and fsynced before returning, so a judgement the rater saw saved survives a crash. If the
    file ends in a cut-off line, a newline comes first: the torn line stays apart, the new one stays whole."""
    validate(rating)
    row = {"rater": rating.rater, "item": rating.item, "left": rating.left, "choice": rating.choice,
           "winner": rating.winner, "scores": {s: {a: int(rating.scores[s][a]) for a in ASPECTS} for s in SIDES},
           "time_utc": rating.time_utc or datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
           "seconds": None if rating.seconds is None else round(float(rating.seconds), 1)}
    line = (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")
    path = Path(run_dir) / RATINGS_JSONL
    with _append_lock, open(path, "a+b") as handle:
        if handle.tell() > 0:
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":
                line = b"\n" + line
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def _parse(row: dict) -> Rating | None:
    try:
        rating = Rating(rater=row["rater"], item=row["item"], left=row["left"], choice=row["choice"],
                        scores={s: {a: row["scores"][s][a] for a in ASPECTS} for s in SIDES},
                        time_utc=row.get("time_utc") or "", seconds=row.get("seconds"))
        if not isinstance(rating.item, str):
            return None
        return validate(rating)
    except (KeyError, TypeError, AttributeError, ValueError):
        return None


def read_ratings(run_dir: Path, items: Iterable[str] | None = None) -> tuple[list[Rating], list[str]]:
    """Every valid judgement in file order, the latest per (rater, item) only, and a warning line for each line
    skipped (cut off, not JSON, missing fields, an item the run does not have). No file: no ratings."""
    path = Path(run_dir) / RATINGS_JSONL
    if not path.exists():
        return [], []
    rows, warnings = read_jsonl(path)
    known = set(items) if items is not None else None
    latest: dict[tuple[str, str], Rating] = {}
    for number, row in enumerate(rows, start=1):
        rating = _parse(row)
        if rating is None:
            warnings.append(f"{path}: rating {number} lacks a rater, item, side, choice or a 1-5 score: skipped")
            continue
        if known is not None and rating.item not in known:
            warnings.append(f"{path}: rating {number} is for item {rating.item!r}, which this run does not have: "
                            "skipped")
            continue
        latest.pop((rating.rater, rating.item), None)  # re-insert: the order is that of the latest judgement
        latest[(rating.rater, rating.item)] = rating
    return list(latest.values()), warnings


def rated_items(ratings: Iterable[Rating], rater: str) -> set[str]:
    return {r.item for r in ratings if r.rater == rater}
