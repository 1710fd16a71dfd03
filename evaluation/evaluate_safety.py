"""How well the crisis route works on the project's own safety set (evaluation/data/safety_set.jsonl).

    python -m evaluation.evaluate_safety            # JSON: recall on crisis, false alarms on ordinary sad messages, misses

Two sets, both written by the project: safety_set.jsonl, which agent/safety.py's phrases were written against (its
figures are in-sample: they show nothing that was meant to be caught is missed), and safety_heldout.jsonl, written
before the last round of phrases was added and never tuned on (its figures, under "heldout", are the honest estimate
for phrasings nobody thought of; keep it unseen: do not add phrases to safety.py for its misses without moving those
cases into the main set and writing new held-out ones).

Each line of the set is {"text", "route", "kind", "group"}: route "crisis" (the fixed message that points to people;
`kind` is the crisis kind that must be among the flags), "near_crisis" (a generated reply, flagged in the session:
negated or softer phrasings) or "ordinary" (sadness and hyperbole that must not be flagged at all). The route is the
one the real responder takes (a template-only Responder: the crisis route never reaches the LLM, so no model is
needed), so the figures describe what a person would get, not only what agent/safety.py matches.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from agent import safety
from agent.responder import Responder

SAFETY_SET = Path(__file__).resolve().parent / "data" / "safety_set.jsonl"
SAFETY_HELDOUT = Path(__file__).resolve().parent / "data" / "safety_heldout.jsonl"
ROUTES: tuple[str, ...] = ("crisis", "near_crisis", "ordinary")


@dataclass(frozen=True)
class SafetyCase:
    text: str
    route: str  # expected: one of ROUTES
    kind: str  # the crisis kind expected among the flags ("" unless route is "crisis")
    group: str  # how it is phrased: direct, indirect, typo, es, fr, de, negated, softer, sad, ...


def load_safety_set(path: Path = SAFETY_SET) -> list[SafetyCase]:
    """The cases, with a one-line error naming the file and line for anything malformed."""
    cases = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            case = SafetyCase(str(row["text"]), str(row["route"]), str(row.get("kind", "")), str(row["group"]))
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path}:{number}: not a safety case ({type(err).__name__}: {err})") from None
        if case.route not in ROUTES:
            raise ValueError(f"{path}:{number}: route {case.route!r} is not one of {', '.join(ROUTES)}")
        if case.route == "crisis" and case.kind not in safety.CRISIS_FLAGS:
            raise ValueError(f"{path}:{number}: crisis kind {case.kind!r} is not one of "
                             f"{', '.join(safety.CRISIS_FLAGS)}")
        cases.append(case)
    return cases


def route_of(responder: Responder, text: str) -> tuple[str, tuple[str, ...]]:
    """The route a person gets for `text` (crisis / near_crisis / ordinary) and the safety flags behind it."""
    reply = responder.respond(text)
    flags = reply.appraisal.safety_flags
    if reply.route == "crisis":
        return "crisis", flags
    return ("near_crisis" if safety.NEAR_CRISIS_FLAG in flags else "ordinary"), flags


def evaluate(cases: list[SafetyCase]) -> dict:
    responder = Responder(None)  # templates only: nothing here needs the LLM
    got = [(case, *route_of(responder, case.text)) for case in cases]
    crisis = [(c, r, f) for c, r, f in got if c.route == "crisis"]
    near = [(c, r, f) for c, r, f in got if c.route == "near_crisis"]
    ordinary = [(c, r, f) for c, r, f in got if c.route == "ordinary"]
    by_group = Counter(c.group for c, _, _ in crisis)
    hit_by_group = Counter(c.group for c, r, _ in crisis if r == "crisis")
    return {
        "cases": len(cases),
        "crisis_cases": len(crisis),
        "crisis_recall": _rate(sum(r == "crisis" for _, r, _ in crisis), len(crisis)),
        "crisis_kind_accuracy": _rate(sum(r == "crisis" and c.kind in f for c, r, f in crisis), len(crisis)),
        "crisis_recall_by_group": {g: _rate(hit_by_group[g], n) for g, n in sorted(by_group.items())},
        "near_crisis_cases": len(near),
        "near_crisis_accuracy": _rate(sum(r == "near_crisis" for _, r, _ in near), len(near)),
        "near_crisis_sent_to_crisis_rate": _rate(sum(r == "crisis" for _, r, _ in near), len(near)),
        "ordinary_cases": len(ordinary),
        "ordinary_false_alarm_rate": _rate(sum(r == "crisis" for _, r, _ in ordinary), len(ordinary)),
        "ordinary_flagged_near_crisis_rate": _rate(sum(r == "near_crisis" for _, r, _ in ordinary), len(ordinary)),
        "wrong": [{"text": c.text, "expected": c.route, "kind": c.kind, "got": r, "flags": list(f)}
                  for c, r, f in got if r != c.route or (c.route == "crisis" and c.kind not in f)],
    }


def _rate(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.evaluate_safety", description=__doc__.splitlines()[0])
    parser.add_argument("--set", type=Path, default=None, help="only this safety set (same JSONL form)")
    args = parser.parse_args(argv)
    try:
        if args.set is not None:
            figures = evaluate(load_safety_set(args.set))
        else:
            figures = evaluate(load_safety_set(SAFETY_SET))
            figures["heldout"] = evaluate(load_safety_set(SAFETY_HELDOUT))
    except (OSError, ValueError) as err:
        print(f"error: {err}")
        return 2
    print(json.dumps(figures, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
