"""How well the appraisal finds an emotion's cause, on RECCON's DailyDialog conversations (the valid split, a dev set).

    python -m evaluation.evaluate_causes                  # the table; --split train for the in-sample view
    python -m evaluation.evaluate_causes --json out.json  # the figures as JSON too

RECCON (Poria et al., 2021) marks, for every emotional utterance, the turns that hold its cause (itself and/or
earlier turns) and the cause spans, verbatim. Each emotional utterance with a marked cause is one case; the method
sees the utterance, its gold emotion (as the issue's figures do: the cause is judged, not the emotion) and the turns
before it, as the runtime would: turns by the same speaker as "user", the other speaker's as "assistant".

Three measures, each against every method:
- **own span**: on the cases whose cause lies (also) in the utterance itself, the span the method quotes from the
  utterance against the annotated span(s) there: SQuAD-style token-F1 (best over the gold spans) and exact match.
- **earlier turns**: which earlier turns hold the cause, micro precision/recall/F1 over (case, turn) pairs. Gold
  turns outside the finder's window count as misses for every method.
- **overall**: the one cause the appraisal carries (a turn and a span in it) against the gold spans of that turn
  (0 when the turn holds no cause): token-F1 and exact match over all cases.

Baselines: the whole utterance, its first clause, the whole previous turn; then today's rules (agent.appraisal's
find_cause on the utterance alone) and the trained finder (agent/cause_finder.py) when its weights are there.
The RECCON paper's own figures are not quoted: the data folder's README does not carry them, and the paper reports on
the test split, which this project keeps apart.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EMOTION_NAMES: dict[str, str] = {
    "happiness": "joy", "happy": "joy", "happines": "joy", "excited": "joy", "joy": "joy",
    "sadness": "sadness", "sad": "sadness", "anger": "anger", "angry": "anger", "surprise": "surprise",
    "surprised": "surprise", "disgust": "disgust", "fear": "fear", "fearful": "fear", "neutral": "neutral",
}


def data_dir() -> Path:
    return Path(os.environ.get("EMPATHIC_DATA", REPO.parent / "shared" / "data"))


@dataclass(frozen=True)
class CauseCase:
    """One emotional utterance: the conversation up to it, its emotion, and where its cause is."""

    dialogue_id: str
    turns: tuple[tuple[str, str], ...]  # (speaker, utterance) for every turn up to and including the target
    emotion: str  # one of basics.labels.LABELS, not neutral
    causes: tuple[tuple[int, str], ...]  # (offset: 0 = the utterance itself, -k = k turns back, verbatim span)

    @property
    def text(self) -> str:
        return self.turns[-1][1]

    @property
    def history(self) -> tuple[tuple[str, str], ...]:
        """The earlier turns as the runtime sees them: the target's speaker is "user", the other "assistant"."""
        me = self.turns[-1][0]
        return tuple(("user" if who == me else "assistant", said) for who, said in self.turns[:-1])


@dataclass(frozen=True)
class CauseGuess:
    own_span: str | None  # the span quoted from the utterance itself ("" none; None: the method does not try)
    turn: int  # the turn of the one cause the appraisal carries: 0 the utterance, -k k turns back
    span: str  # that cause, verbatim from that turn ("" none)
    earlier: frozenset[int]  # every earlier turn (negative offsets) the method says holds a cause


def load_cases(split: str = "valid", root: Path | None = None) -> list[CauseCase]:
    """RECCON's DailyDialog `split` (train or valid) as cases; raises ValueError naming the file when it is unusable."""
    if split not in ("train", "valid"):
        raise ValueError(f"unknown split {split!r}: train or valid (the test split is kept apart)")
    path = (root or data_dir()) / "reccon_train" / f"dailydialog_{split}.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ValueError(f"{path}: cannot read RECCON ({err.strerror or err})") from err
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from err
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected an object of dialogues")
    cases = []
    for dialogue_id, versions in raw.items():
        try:
            turns = versions[0]
            said = tuple((str(t["speaker"]), str(t["utterance"])) for t in turns)
            for index, turn in enumerate(turns):
                emotion = EMOTION_NAMES.get(str(turn.get("emotion", "neutral")).lower(), "neutral")
                if emotion == "neutral":
                    continue
                evidence = turn.get("expanded emotion cause evidence") or []
                spans = turn.get("expanded emotion cause span") or []
                causes = tuple((int(at) - int(turn["turn"]), str(span)) for at, span in zip(evidence, spans)
                               if isinstance(at, int) and int(at) <= int(turn["turn"]) and span)
                if causes:  # "b" evidence (no explicit cause) is not a case
                    cases.append(CauseCase(dialogue_id, said[:index + 1], emotion, causes))
        except (KeyError, TypeError, IndexError, ValueError) as err:
            raise ValueError(f"{path}: dialogue {dialogue_id} is not in RECCON's form ({err!r})") from err
    return cases


# --- scoring (SQuAD's normalisation: lower case, no punctuation, no articles) -------------------------------------

def normalise_tokens(text: str) -> list[str]:
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return re.sub(r"\b(a|an|the)\b", " ", text).split()


def token_f1(predicted: str, gold: str) -> float:
    pred, true = normalise_tokens(predicted), normalise_tokens(gold)
    if not pred or not true:
        return float(pred == true)
    common = sum((Counter(pred) & Counter(true)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(true)
    return 2 * precision * recall / (precision + recall)


def exact_match(predicted: str, gold: str) -> float:
    return float(normalise_tokens(predicted) == normalise_tokens(gold))


def best_against(predicted: str, golds: Sequence[str], score: Callable[[str, str], float]) -> float:
    return max((score(predicted, g) for g in golds), default=0.0)


def score(cases: Sequence[CauseCase], guesses: Sequence[CauseGuess]) -> dict:
    own_f1, own_em, all_f1, all_em = [], [], [], []
    hits = predicted = gold = 0
    empty_own = 0
    for case, guess in zip(cases, guesses):
        own_gold = [span for at, span in case.causes if at == 0]
        if own_gold and guess.own_span is not None:
            own_f1.append(best_against(guess.own_span, own_gold, token_f1))
            own_em.append(best_against(guess.own_span, own_gold, exact_match))
            empty_own += not guess.own_span.strip()
        there = [span for at, span in case.causes if at == guess.turn]
        all_f1.append(best_against(guess.span, there, token_f1) if guess.span.strip() else 0.0)
        all_em.append(best_against(guess.span, there, exact_match) if guess.span.strip() else 0.0)
        gold_earlier = {at for at, _ in case.causes if at < 0}
        hits += len(gold_earlier & guess.earlier)
        predicted += len(guess.earlier)
        gold += len(gold_earlier)
    precision = hits / predicted if predicted else 0.0
    recall = hits / gold if gold else 0.0

    def mean(xs: list[float]) -> float | None:
        return round(sum(xs) / len(xs), 4) if xs else None

    return {
        "own_span_cases": len(own_f1), "own_span_f1": mean(own_f1), "own_span_exact": mean(own_em),
        "own_span_empty_share": round(empty_own / len(own_f1), 4) if own_f1 else None,
        "earlier_turn_precision": round(precision, 4), "earlier_turn_recall": round(recall, 4),
        "earlier_turn_f1": round(2 * precision * recall / (precision + recall), 4) if hits else 0.0,
        "overall_cases": len(all_f1), "overall_f1": mean(all_f1), "overall_exact": mean(all_em),
    }


# --- the methods --------------------------------------------------------------------------------------------------

def whole_utterance(case: CauseCase) -> CauseGuess:
    return CauseGuess(case.text, 0, case.text, frozenset())


def first_clause(case: CauseCase) -> CauseGuess:
    from agent.appraisal import split_clauses

    clauses = split_clauses(case.text)
    first = clauses[0] if clauses else ""
    return CauseGuess(first, 0, first, frozenset())


def previous_turn(case: CauseCase) -> CauseGuess:
    if len(case.turns) < 2:
        return CauseGuess(None, 0, "", frozenset())
    return CauseGuess(None, -1, case.turns[-2][1], frozenset({-1}))


def rules(case: CauseCase) -> CauseGuess:
    from agent.appraisal import find_cause

    cause = find_cause(case.text, case.emotion)
    return CauseGuess(cause, 0, cause, frozenset())


def trained_finder() -> Callable[[CauseCase], CauseGuess] | None:
    """The trained finder as a method, None when its weights are not there (the table then leaves it out)."""
    try:
        from agent.cause_finder import CauseFinder
    except ImportError:
        return None
    try:
        finder = CauseFinder.load()
    except (OSError, ValueError):
        return None

    def method(case: CauseCase) -> CauseGuess:
        found = finder.find(case.text, case.emotion, case.history)
        return CauseGuess(found.own_span, found.turn, found.span, frozenset(t for t in found.cause_turns if t < 0))

    return method


def methods() -> dict[str, Callable[[CauseCase], CauseGuess]]:
    chosen: dict[str, Callable[[CauseCase], CauseGuess]] = {
        "whole utterance": whole_utterance, "first clause": first_clause, "previous turn": previous_turn,
        "rules (today)": rules}
    model = trained_finder()
    if model is not None:
        chosen["trained finder"] = model
    return chosen


def evaluate(cases: Sequence[CauseCase]) -> dict[str, dict]:
    return {name: score(cases, [method(case) for case in cases]) for name, method in methods().items()}


def table(figures: dict[str, dict]) -> str:
    def show(v: float | None) -> str:
        return "-" if v is None else f"{v:.3f}"

    lines = ["| method | own span F1 | own span exact | own span empty | earlier turns P / R / F1 | overall F1 | "
             "overall exact |", "|---|---|---|---|---|---|---|"]
    for name, f in figures.items():
        own = (show(f["own_span_f1"]), show(f["own_span_exact"]), show(f["own_span_empty_share"])) \
            if f["own_span_f1"] is not None else ("-", "-", "-")
        lines.append(f"| {name} | {' | '.join(own)} | {show(f['earlier_turn_precision'])} / "
                     f"{show(f['earlier_turn_recall'])} / {show(f['earlier_turn_f1'])} | {show(f['overall_f1'])} | "
                     f"{show(f['overall_exact'])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.evaluate_causes", description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("valid", "train"), default="valid",
                        help="valid (dev, default) or train (in-sample for the trained finder)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    try:
        cases = load_cases(args.split)
    except ValueError as err:
        print(f"error: {err}")
        return 2
    figures = evaluate(cases)
    own = sum(any(at == 0 for at, _ in c.causes) for c in cases)
    earlier = sum(len({at for at, _ in c.causes if at < 0}) for c in cases)
    print(f"RECCON DailyDialog {args.split}: {len(cases)} emotional utterances with a marked cause; {own} with a "
          f"cause in the utterance itself, {earlier} cause turns earlier in the conversation")
    print(table(figures))
    if args.json:
        args.json.write_text(json.dumps({"split": args.split, "cases": len(cases), "figures": figures}, indent=1)
                             + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
