"""How well the crisis route works: the project's safety sets and real Reddit posts, cross-validated.

    python -m evaluation.evaluate_safety              # JSON: every set below and the Reddit cross-validation
    python -m evaluation.evaluate_safety --no-reddit  # the project's sets only (seconds)

The responder is the real one (rules as the floor, the semantic detector agent/crisis_detector.py beside them), so
the levels are those a person would get: crisis (fixed message), concern (reply + check-in), none.

Sets (evaluation/data/README.md): safety_set.jsonl is in-sample (the rules were written against it and the detector
is trained on it); safety_heldout.jsonl, safety_heldout_v2.jsonl and safety_no_crisis.jsonl are never tuned on
(safety_heldout_v2 and safety_no_crisis were committed before the detector was trained). "reddit" is a nested
cross-validation on ../shared/data/crisis_reddit_train (r/SuicideWatch against r/depression): each post is scored by
a detector that never saw it, with thresholds chosen on the other folds only; the rules are fixed.

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

import numpy as np

from agent import safety
from agent.responder import Responder

SAFETY_SET = Path(__file__).resolve().parent / "data" / "safety_set.jsonl"
SAFETY_HELDOUT = Path(__file__).resolve().parent / "data" / "safety_heldout.jsonl"
SAFETY_HELDOUT_V2 = Path(__file__).resolve().parent / "data" / "safety_heldout_v2.jsonl"
SAFETY_NO_CRISIS = Path(__file__).resolve().parent / "data" / "safety_no_crisis.jsonl"
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
    route, flags, _ = route_and_level(responder, text)
    return route, flags


def route_and_level(responder: Responder, text: str) -> tuple[str, tuple[str, ...], str]:
    """The route, the flags and the safety level (crisis / concern / none) a person gets for `text`."""
    reply = responder.respond(text)
    flags = reply.appraisal.safety_flags
    if reply.route == "crisis":
        return "crisis", flags, reply.appraisal.safety_level
    return ("near_crisis" if safety.NEAR_CRISIS_FLAG in flags else "ordinary"), flags, reply.appraisal.safety_level


def evaluate(cases: list[SafetyCase], responder: Responder | None = None) -> dict:
    responder = responder or Responder(None)  # templates only: nothing here needs the LLM
    leveled = [(case, *route_and_level(responder, case.text)) for case in cases]
    got = [(c, r, f) for c, r, f, _ in leveled]
    concern = [c for c, r, _, level in leveled if c.route != "crisis" and level == "concern"]
    crisis = [(c, r, f) for c, r, f in got if c.route == "crisis"]
    near = [(c, r, f) for c, r, f in got if c.route == "near_crisis"]
    ordinary = [(c, r, f) for c, r, f in got if c.route == "ordinary"]
    by_group = Counter(c.group for c, _, _ in crisis)
    hit_by_group = Counter(c.group for c, r, _ in crisis if r == "crisis")
    return {
        "cases": len(cases),
        "crisis_cases": len(crisis),
        "crisis_recall": _rate(sum(r == "crisis" for _, r, _ in crisis), len(crisis)),
        # the concern level: a reply with a check-in and where help is, not the fixed crisis message
        "crisis_or_concern_recall": _rate(sum(r == "crisis" or level == "concern" for c, r, _, level in leveled
                                              if c.route == "crisis"), len(crisis)),
        "crisis_kind_accuracy": _rate(sum(r == "crisis" and c.kind in f for c, r, f in crisis), len(crisis)),
        "crisis_recall_by_group": {g: _rate(hit_by_group[g], n) for g, n in sorted(by_group.items())},
        "near_crisis_cases": len(near),
        "near_crisis_accuracy": _rate(sum(r == "near_crisis" for _, r, _ in near), len(near)),
        "near_crisis_sent_to_crisis_rate": _rate(sum(r == "crisis" for _, r, _ in near), len(near)),
        "ordinary_cases": len(ordinary),
        "ordinary_false_alarm_rate": _rate(sum(r == "crisis" for _, r, _ in ordinary), len(ordinary)),
        "ordinary_flagged_near_crisis_rate": _rate(sum(r == "near_crisis" for _, r, _ in ordinary), len(ordinary)),
        "non_crisis_concern_rate": _rate(len(concern), len(near) + len(ordinary)),
        "wrong": [{"text": c.text, "expected": c.route, "kind": c.kind, "got": r, "flags": list(f)}
                  for c, r, f in got if r != c.route or (c.route == "crisis" and c.kind not in f)],
    }


def _rate(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def evaluate_reddit(limit: int | None = None) -> dict:
    """Nested cross-validation on crisis_reddit_train (see training/train_crisis_detector.py); `limit` takes a
    stratified, seeded subset of the posts (for a quick check)."""
    from training import train_crisis_detector as training

    texts, labels = training.load_reddit()
    if limit is not None and limit < len(labels):
        from sklearn.model_selection import train_test_split

        keep, _ = train_test_split(np.arange(len(labels)), train_size=limit, stratify=labels,
                                   random_state=training.SEED)
        texts, labels = [texts[i] for i in sorted(keep)], labels[np.sort(keep)]
    posts = training.embed_messages(texts, labels)
    in_sample = training.embed_messages(*training.load_in_sample())
    training.use_everyday()
    c_value = json.loads(training.METRICS_PATH.read_text())["C"] if training.METRICS_PATH.exists() else 1.0
    figures = training.nested_cross_validation(posts, in_sample, c_value)
    figures["data"] = f"crisis_reddit_train, {len(labels)} posts, {training.FOLDS}-fold nested cross-validation"
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.evaluate_safety", description=__doc__.splitlines()[0])
    parser.add_argument("--set", type=Path, default=None, help="only this safety set (same JSONL form)")
    parser.add_argument("--no-reddit", action="store_true", help="skip the cross-validation on Reddit posts")
    parser.add_argument("--reddit-limit", type=int, default=None, help="a stratified subset of the Reddit posts")
    parser.add_argument("--rules-only", action="store_true", help="the keyword rules alone, without the detector")
    args = parser.parse_args(argv)
    responder = Responder(None, crisis_detector=None if args.rules_only else "auto")
    try:
        if args.set is not None:
            figures = evaluate(load_safety_set(args.set), responder)
        else:
            figures = evaluate(load_safety_set(SAFETY_SET), responder)
            figures["heldout"] = evaluate(load_safety_set(SAFETY_HELDOUT), responder)
            figures["heldout_v2"] = evaluate(load_safety_set(SAFETY_HELDOUT_V2), responder)
            figures["no_crisis"] = evaluate(load_safety_set(SAFETY_NO_CRISIS), responder)
            if not args.no_reddit and not args.rules_only:
                figures["reddit"] = evaluate_reddit(args.reddit_limit)
        status = responder.assess_safety("hello").status
        figures["detector"] = "keyword rules only" if args.rules_only else (status[0] if status else "loaded")
    except (OSError, ValueError) as err:
        print(f"error: {err}")
        return 2
    print(json.dumps(figures, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
