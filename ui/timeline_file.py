"""events.jsonl, the timeline of a session (live or replayed): reading one back, and comparing two.

Apart from replay so that the report can read a timeline without importing the replay that writes it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np


def load_events(path: str | os.PathLike) -> tuple[list[dict], list[str]]:
    """The events of an events.jsonl, and a line for each that could not be read (a torn last line after a crash,
    a corrupt line): those are skipped, the rest kept."""
    events, problems = [], []
    path = Path(path)
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                event = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                problems.append(f"{path}:{number}: not a JSON event ({str(err).splitlines()[0]}); skipped")
                continue
            if not isinstance(event, dict) or "kind" not in event or "t_s" not in event:
                problems.append(f"{path}:{number}: not an event (needs 'kind' and 't_s'); skipped")
                continue
            events.append(event)
    return events, problems


MAX_LISTED = 20


def diff_events(recorded: list[dict], replayed: list[dict]) -> dict:
    """What changed between two timelines: the fused emotion (label at each recorded state's time, valence), the
    transcripts and the replies (paired in order)."""
    def states(events: list[dict]) -> list[dict]:
        return [e for e in events if e.get("kind") == "state"]

    def label_at(timeline: list[dict], t_s: float) -> str | None:
        label = None
        for e in timeline:  # timelines are in time order
            if e["t_s"] > t_s + 1e-6:
                break
            label = e.get("label")
        return label

    old_states, new_states = states(recorded), states(replayed)
    changes = []
    valence_gaps = []
    for e in old_states:
        now = label_at(new_states, e["t_s"])
        if now != e.get("label"):
            changes.append({"t_s": e["t_s"], "recorded": e.get("label"), "replayed": now})
        newer = [n for n in new_states if n["t_s"] <= e["t_s"] + 1e-6]
        if newer and "valence" in e:
            valence_gaps.append(abs(float(newer[-1]["valence"]) - float(e["valence"])))

    def paired(kind: str, key: str) -> dict:
        old = [e for e in recorded if e.get("kind") == kind]
        new = [e for e in replayed if e.get("kind") == kind]
        differ = [{"index": i, "t_s": (a or b)["t_s"], "recorded": a.get(key) if a else None,
                   "replayed": b.get(key) if b else None}
                  for i, (a, b) in enumerate(_zip_longest(old, new))
                  if (a.get(key) if a else None) != (b.get(key) if b else None)]
        return {"recorded": len(old), "replayed": len(new), "different": len(differ), "changes": differ[:MAX_LISTED]}

    return {
        "states": {"recorded": len(old_states), "replayed": len(new_states),
                   "same_label_fraction": round(1 - len(changes) / len(old_states), 3) if old_states else None,
                   "valence_mean_abs_change": round(float(np.mean(valence_gaps)), 3) if valence_gaps else None,
                   "label_changes": changes[:MAX_LISTED], "label_changes_total": len(changes)},
        "transcripts": paired("transcript", "text"),
        "replies": paired("reply", "text"),
    }


def _zip_longest(a: list, b: list) -> Iterator[tuple[Any, Any]]:
    for i in range(max(len(a), len(b))):
        yield (a[i] if i < len(a) else None), (b[i] if i < len(b) else None)


def diff_lines(diff: dict) -> list[str]:
    """The diff in a few lines for a person."""
    s = diff["states"]
    lines = [f"emotion states: {s['recorded']} recorded, {s['replayed']} replayed; "
             f"{s['label_changes_total']} recorded moments now read differently"
             + (f" (same label {s['same_label_fraction']:.0%}, valence moved {s['valence_mean_abs_change']:.2f} "
                f"on average)" if s["same_label_fraction"] is not None and s["valence_mean_abs_change"] is not None
                else "")]
    for c in s["label_changes"][:5]:
        lines.append(f"  at {c['t_s']:.1f} s: {c['recorded']} -> {c['replayed']}")
    for name in ("transcripts", "replies"):
        d = diff[name]
        lines.append(f"{name}: {d['recorded']} recorded, {d['replayed']} replayed, {d['different']} different")
        for c in d["changes"][:5]:
            lines.append(f"  #{c['index'] + 1} at {c['t_s']:.1f} s: {c['recorded']!r} -> {c['replayed']!r}")
    return lines
