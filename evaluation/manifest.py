"""The ablation manifest: JSON Lines, one labelled sample per line, read as a stream.

    {"id": str, "text": str|null, "audio": path|null, "video": path|null, "image": path|null, "label": str|null,
     "valence": float|null, "arousal": float|null, "context": [str]|null, "reference_reply": str|null}

Paths are relative to the manifest's folder (an absolute path is taken as it is). `label` is one of the 7 labels
(basics.labels.LABELS). A missing modality is null; a key left out counts as null. A key that is not in the
format is an error (it is usually a typo, "lable", that would otherwise drop a label without a word).

A bad line never stops the reading: `iter_manifest` yields a `ManifestProblem` naming the line and what was wrong
(malformed, unknown label, missing file, duplicate id) and goes on with the next line. Memory: one line at a time,
plus the set of ids seen (duplicates can only be found that way).
"""

from __future__ import annotations

import json
import math
import os
import random
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from basics.labels import LABELS

FIELDS: tuple[str, ...] = ("id", "text", "audio", "video", "image", "label", "valence", "arousal", "context",
                           "reference_reply")
MEDIA_FIELDS: tuple[str, ...] = ("audio", "video", "image")

# Why a line was skipped; the report counts skipped lines by these.
MALFORMED = "malformed"
UNKNOWN_LABEL = "unknown_label"
MISSING_FILE = "missing_file"
DUPLICATE_ID = "duplicate_id"
PROBLEM_KINDS: tuple[str, ...] = (MALFORMED, UNKNOWN_LABEL, MISSING_FILE, DUPLICATE_ID)


@dataclass(frozen=True)
class Sample:
    """One valid manifest line, media paths resolved against the manifest's folder."""

    id: str
    line: int
    text: str | None = None
    audio: Path | None = None
    video: Path | None = None
    image: Path | None = None
    label: str | None = None
    valence: float | None = None
    arousal: float | None = None
    context: tuple[str, ...] = ()
    reference_reply: str | None = None

    @property
    def modalities_present(self) -> tuple[str, ...]:
        return tuple(name for name in ("text",) + MEDIA_FIELDS if getattr(self, name) is not None)


@dataclass(frozen=True)
class ManifestProblem:
    """A line that was skipped, and why, in words that name the line."""

    line: int
    kind: str  # one of PROBLEM_KINDS
    message: str
    id: str | None = None

    def __str__(self) -> str:
        return f"line {self.line}: {self.kind}: {self.message}"


Entry = Sample | ManifestProblem


class _Bad(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _optional_str(row: dict, key: str) -> str | None:
    value = row.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Bad(MALFORMED, f'"{key}" must be a string or null, got {type(value).__name__}')
    return value


def _optional_unit_float(row: dict, key: str) -> float | None:
    value = row.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _Bad(MALFORMED, f'"{key}" must be a number in [-1, 1] or null, got {value!r}')
    if not -1.0 <= value <= 1.0:
        raise _Bad(MALFORMED, f'"{key}" must be in [-1, 1], got {value}')
    return float(value)


def parse_line(text: str, line: int, folder: Path) -> Sample:
    """One manifest line as a Sample; raises _Bad with the kind and a message. Files are checked to exist."""
    try:
        row = json.loads(text)
    except json.JSONDecodeError as err:
        raise _Bad(MALFORMED, f"not valid JSON ({err.msg} at column {err.colno})") from None
    if not isinstance(row, dict):
        raise _Bad(MALFORMED, f"expected a JSON object, got {type(row).__name__}")
    unknown = sorted(set(row) - set(FIELDS))
    if unknown:
        raise _Bad(MALFORMED, f"unknown key(s) {', '.join(repr(k) for k in unknown)}; the keys are {', '.join(FIELDS)}")
    sample_id = row.get("id")
    if not isinstance(sample_id, str) or not sample_id.strip():
        raise _Bad(MALFORMED, '"id" must be a non-empty string')
    text_value = _optional_str(row, "text")
    if text_value is not None and not text_value.strip():
        text_value = None  # an empty string says nothing; the audio's transcript may stand in
    label = _optional_str(row, "label")
    if label is not None and label not in LABELS:
        raise _Bad(UNKNOWN_LABEL, f"label {label!r} is not one of {', '.join(LABELS)}")
    context = row.get("context")
    if context is not None and (not isinstance(context, list) or not all(isinstance(c, str) for c in context)):
        raise _Bad(MALFORMED, '"context" must be a list of strings or null')
    media: dict[str, Path | None] = {}
    for key in MEDIA_FIELDS:
        value = _optional_str(row, key)
        if value is None or not value.strip():
            media[key] = None
            continue
        path = folder / value  # an absolute value stays absolute
        if not path.is_file():
            raise _Bad(MISSING_FILE, f'{key} file "{value}" not found (looked for {path})')
        media[key] = path
    if text_value is None and not any(media.values()):
        raise _Bad(MALFORMED, "nothing to perceive: text, audio, video and image are all null")
    return Sample(
        id=sample_id, line=line, text=text_value, label=label,
        valence=_optional_unit_float(row, "valence"), arousal=_optional_unit_float(row, "arousal"),
        context=tuple(context or ()), reference_reply=_optional_str(row, "reference_reply"), **media,
    )


def iter_manifest(path: str | os.PathLike) -> Iterator[Entry]:
    """Every non-blank line as a Sample or a ManifestProblem, in file order, one line in memory at a time.
    Raises ValueError (one line) only when the manifest itself cannot be opened or read as UTF-8."""
    manifest = Path(path)
    if not manifest.is_file():
        raise ValueError(f"{manifest}: no such manifest file")
    folder = manifest.resolve().parent
    seen: dict[str, int] = {}
    try:
        with manifest.open(encoding="utf-8") as handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                try:
                    sample = parse_line(raw, number, folder)
                except _Bad as bad:
                    yield ManifestProblem(line=number, kind=bad.kind, message=str(bad))
                    continue
                if sample.id in seen:
                    yield ManifestProblem(line=number, kind=DUPLICATE_ID, id=sample.id,
                                          message=f"id {sample.id!r} already used on line {seen[sample.id]}")
                    continue
                seen[sample.id] = number
                yield sample
    except UnicodeDecodeError as err:
        raise ValueError(f"{manifest}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except OSError as err:
        raise ValueError(f"{manifest}: cannot read ({err.strerror or err})") from None


@dataclass(frozen=True)
class SkipTally:
    """How many lines were skipped, by kind, and the first few problems in words."""

    counts: dict[str, int]
    examples: tuple[str, ...]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class ProblemLog:
    """Collects problems as the manifest streams: counts per kind and the first `keep` messages."""

    def __init__(self, keep: int = 50) -> None:
        self.counts: Counter[str] = Counter()
        self.examples: list[str] = []
        self.keep = keep

    def add(self, problem: ManifestProblem) -> None:
        self.counts[problem.kind] += 1
        if len(self.examples) < self.keep:
            self.examples.append(str(problem))

    def tally(self) -> SkipTally:
        return SkipTally(counts={kind: self.counts.get(kind, 0) for kind in PROBLEM_KINDS},
                         examples=tuple(self.examples))


def select_samples(entries: Iterable[Entry], problems: ProblemLog, limit: int | None = None,
                   seed: int = 0) -> Iterator[Sample]:
    """The samples to run, problems logged on the way. No limit: every sample, streamed. With `limit`: a seeded
    uniform choice of `limit` samples (reservoir sampling, so only `limit` samples are ever held), in file order."""
    if limit is None:
        for entry in entries:
            if isinstance(entry, ManifestProblem):
                problems.add(entry)
            else:
                yield entry
        return
    if limit < 0:
        raise ValueError(f"--limit must be >= 0, got {limit}")
    rng = random.Random(seed)
    reservoir: list[Sample] = []
    seen = 0
    for entry in entries:
        if isinstance(entry, ManifestProblem):
            problems.add(entry)
            continue
        seen += 1
        if len(reservoir) < limit:
            reservoir.append(entry)
        else:
            slot = rng.randrange(seen)
            if slot < limit:
                reservoir[slot] = entry
    yield from sorted(reservoir, key=lambda s: s.line)


def write_manifest(path: str | os.PathLike, rows: Iterable[dict]) -> int:
    """Write rows (dicts with the manifest's keys; absent keys become null) as a manifest; returns the count."""
    count = 0
    with Path(path).open("w", encoding="utf-8") as handle:
        for row in rows:
            unknown = set(row) - set(FIELDS)
            if unknown:
                raise ValueError(f"unknown manifest key(s): {sorted(unknown)}")
            handle.write(json.dumps({key: row.get(key) for key in FIELDS}, ensure_ascii=False) + "\n")
            count += 1
    return count
