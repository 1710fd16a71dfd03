"""Train the cause finder (agent/cause_finder.py) on RECCON's DailyDialog train split; settings by cross-validation.

    python -m training.train_cause_finder      # writes agent/weights/cause_finder.npz and cause_finder_metrics.json

Only the train split is fitted or tuned on: 5-fold cross-validation grouped by dialogue picks each model's
regularisation (out-of-fold log-loss) and the three decision settings (out-of-fold task figures): the probability
at which an earlier turn also holds a cause (earlier-turn F1), the clause threshold (span token-F1 in the cause
turns) and how much the person's own message is preferred when one cause is carried (the carried cause's token-F1).
The valid split (RECCON's dev set) is scored once at the end with evaluation.evaluate_causes and recorded.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from agent.appraisal import find_cause  # noqa: E402
from agent.cause_finder import (  # noqa: E402
    WEIGHTS_PATH,
    WINDOW_TURNS,
    CauseFinder,
    clause_features,
    clause_spans,
    hasher,
    tidy_span,
    turn_features,
)
from evaluation.evaluate_causes import CauseCase, best_against, evaluate, load_cases, token_f1  # noqa: E402

METRICS_PATH = WEIGHTS_PATH.with_name("cause_finder_metrics.json")
FOLDS = 5
C_GRID: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3)
CLAUSE_IN_SPAN_SHARE = 0.5  # a clause counts as part of the gold span when at least half its characters are in it


def turn_rows(cases: Sequence[CauseCase]) -> tuple[list[dict], np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """One row per (case, candidate turn in the window): features, label, dialogue group, (case index, offset)."""
    rows, labels, groups, where = [], [], [], []
    for k, case in enumerate(cases):
        gold = {at for at, _ in case.causes}
        history = case.history
        earlier = list(history)[-WINDOW_TURNS:]
        candidates = [(0, True, case.text)] + [(-(len(earlier) - i), role == "user", said)
                                               for i, (role, said) in enumerate(earlier)]
        for offset, same, said in candidates:
            rows.append(turn_features(offset, same, said, case.text, case.emotion))
            labels.append(offset in gold)
            groups.append(case.dialogue_id)
            where.append((k, offset))
    return rows, np.array(labels, dtype=int), np.array(groups), where


def clause_rows(cases: Sequence[CauseCase]) -> tuple[list[dict], np.ndarray, np.ndarray, list[tuple[int, int, int]]]:
    """One row per clause of each gold cause turn in the window: in the gold span or not."""
    rows, labels, groups, where = [], [], [], []
    for k, case in enumerate(cases):
        for g, (offset, span) in enumerate(case.causes):
            if offset < -WINDOW_TURNS:
                continue
            said = case.turns[len(case.turns) - 1 + offset][1]
            start = said.find(span)
            end = start + len(span)
            spans = clause_spans(said)
            clauses = [said[a:b] for a, b in spans]
            for i, (a, b) in enumerate(spans):
                inside = max(0, min(b, end) - max(a, start)) / max(1, b - a)
                rows.append(clause_features(clauses, i, offset, case.emotion))
                labels.append(inside >= CLAUSE_IN_SPAN_SHARE)
                groups.append(case.dialogue_id)
                where.append((k, g, i))
    return rows, np.array(labels, dtype=int), np.array(groups), where


def fit(X, y: np.ndarray, c: float):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, solver="liblinear", max_iter=2000, random_state=0).fit(X, y)


def out_of_fold(X, y: np.ndarray, groups: np.ndarray, c: float) -> np.ndarray:
    from sklearn.model_selection import GroupKFold

    probs = np.zeros(len(y))
    for train, held in GroupKFold(n_splits=FOLDS).split(X, y, groups):
        probs[held] = fit(X[train], y[train], c).predict_proba(X[held])[:, 1]
    return probs


def pick_c(X, y: np.ndarray, groups: np.ndarray, name: str) -> tuple[float, np.ndarray, dict]:
    from sklearn.metrics import log_loss

    losses, oof = {}, {}
    for c in C_GRID:
        oof[c] = out_of_fold(X, y, groups, c)
        losses[c] = round(float(log_loss(y, oof[c])), 4)
        print(f"  {name}: C={c} out-of-fold log-loss {losses[c]}")
    best = min(losses, key=losses.__getitem__)
    return best, oof[best], {str(c): v for c, v in losses.items()}


def spans_from(probs: Sequence[float], said: str, threshold: float) -> str:
    spans = clause_spans(said)
    kept = [i for i, p in enumerate(probs) if p >= threshold] or [int(np.argmax(probs))]
    return tidy_span(said[spans[kept[0]][0]:spans[kept[-1]][1]])


def tune(cases: Sequence[CauseCase], turn_oof: np.ndarray, turn_where: list, clause_oof: np.ndarray,
         clause_where: list) -> dict:
    """The decision settings that do best out of fold on train."""
    by_case: dict[int, dict[int, float]] = {}
    for (k, offset), p in zip(turn_where, turn_oof):
        by_case.setdefault(k, {})[offset] = float(p)
    clause_probs: dict[tuple[int, int], list[float]] = {}
    for (k, g, _), p in zip(clause_where, clause_oof):
        clause_probs.setdefault((k, g), []).append(float(p))

    # clause threshold: the span's token-F1 in the gold cause turns
    def span_f1(threshold: float) -> float:
        scores = [token_f1(spans_from(probs, cases[k].turns[len(cases[k].turns) - 1 + cases[k].causes[g][0]][1],
                                      threshold), cases[k].causes[g][1]) for (k, g), probs in clause_probs.items()]
        return float(np.mean(scores))

    clause_grid = {round(t, 2): span_f1(t) for t in np.arange(0.2, 0.75, 0.05)}
    clause_threshold = max(clause_grid, key=clause_grid.__getitem__)

    # earlier-turn threshold: micro F1 over (case, earlier turn) pairs, gold turns outside the window are misses
    def earlier_f1(threshold: float) -> float:
        hits = predicted = gold = 0
        for k, case in enumerate(cases):
            truth = {at for at, _ in case.causes if at < 0}
            best = max(by_case[k], key=by_case[k].__getitem__)
            said = {t for t, p in by_case[k].items() if t < 0 and (p >= threshold or t == best)}
            hits, predicted, gold = hits + len(truth & said), predicted + len(said), gold + len(truth)
        return 2 * hits / (predicted + gold) if hits else 0.0

    turn_grid = {round(t, 2): earlier_f1(t) for t in np.arange(0.2, 0.75, 0.05)}
    turn_threshold = max(turn_grid, key=turn_grid.__getitem__)

    # own bonus: the carried cause's token-F1 (0 when the chosen turn holds no cause)
    def carried_f1(bonus: float) -> float:
        scores = []
        for k, case in enumerate(cases):
            turn = max(by_case[k], key=lambda t: by_case[k][t] + (bonus if t == 0 else 0.0))
            golds = [g for g, (at, _) in enumerate(case.causes) if at == turn and (k, g) in clause_probs]
            if not golds:
                scores.append(0.0)
                continue
            said = case.turns[len(case.turns) - 1 + turn][1]
            span = spans_from(clause_probs[(k, golds[0])], said, clause_threshold)
            scores.append(best_against(span, [case.causes[g][1] for g in golds], token_f1))
        return float(np.mean(scores))

    bonus_grid = {round(b, 2): carried_f1(b) for b in np.arange(-0.2, 0.45, 0.05)}
    own_bonus = max(bonus_grid, key=bonus_grid.__getitem__)

    # unsure: below this best-turn probability the rules' cause (when they find one) is carried instead
    rules = [find_cause(case.text, case.emotion) for case in cases]
    own_gold = [[span for at, span in case.causes if at == 0] for case in cases]
    model_scores = []
    for k, case in enumerate(cases):
        turn = max(by_case[k], key=lambda t: by_case[k][t] + (own_bonus if t == 0 else 0.0))
        golds = [g for g, (at, _) in enumerate(case.causes) if at == turn and (k, g) in clause_probs]
        said = case.turns[len(case.turns) - 1 + turn][1]
        model_scores.append((max(by_case[k].values()), best_against(
            spans_from(clause_probs[(k, golds[0])], said, clause_threshold), [case.causes[g][1] for g in golds],
            token_f1) if golds else 0.0))

    def with_rules(unsure_below: float) -> float:
        return float(np.mean([best_against(rule, gold, token_f1) if p < unsure_below and rule else score
                              for (p, score), rule, gold in zip(model_scores, rules, own_gold)]))

    unsure_grid = {round(u, 2): with_rules(u) for u in (0.0, 0.2, 0.3, 0.4, 0.5, 0.6)}
    unsure_below = max(unsure_grid, key=unsure_grid.__getitem__)
    return {"clause_threshold": clause_threshold, "turn_threshold": turn_threshold, "own_bonus": own_bonus,
            "unsure_below": unsure_below, "cv_span_f1_in_cause_turns": round(clause_grid[clause_threshold], 4),
            "cv_earlier_turn_f1": round(turn_grid[turn_threshold], 4),
            "cv_carried_cause_f1": round(bonus_grid[own_bonus], 4),
            "cv_carried_cause_f1_by_unsure_below": {str(u): round(v, 4) for u, v in unsure_grid.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.train_cause_finder", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH, help="where the weights go (.npz)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        train = load_cases("train")
    except ValueError as err:
        print(f"error: {err}")
        return 2
    features = hasher()
    t_rows, t_y, t_groups, t_where = turn_rows(train)
    c_rows, c_y, c_groups, c_where = clause_rows(train)
    t_X, c_X = features.transform(t_rows).tocsr(), features.transform(c_rows).tocsr()
    print(f"train: {len(train)} cases, {len(t_y)} candidate turns ({t_y.sum()} hold a cause), "
          f"{len(c_y)} clauses of cause turns ({c_y.sum()} in a span)")
    turn_c, turn_oof, turn_losses = pick_c(t_X, t_y, t_groups, "turn model")
    clause_c, clause_oof, clause_losses = pick_c(c_X, c_y, c_groups, "clause model")
    settings = tune(train, turn_oof, t_where, clause_oof, c_where)
    print(f"  chosen: turn C={turn_c}, clause C={clause_c}, {settings}")
    turn_model, clause_model = fit(t_X, t_y, turn_c), fit(c_X, c_y, clause_c)
    finder = CauseFinder(turn_coef=turn_model.coef_.ravel().astype(np.float32),
                         turn_intercept=float(turn_model.intercept_[0]),
                         clause_coef=clause_model.coef_.ravel().astype(np.float32),
                         clause_intercept=float(clause_model.intercept_[0]),
                         turn_threshold=settings["turn_threshold"], clause_threshold=settings["clause_threshold"],
                         unsure_below=settings["unsure_below"], own_bonus=settings["own_bonus"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **cast(dict[str, Any], finder.arrays()))  # numpy stub: **kwds vs allow_pickle
    dev = evaluate(load_cases("valid"))  # scored once, after every choice was made on train
    metrics = {
        "command": "python -m training.train_cause_finder",
        "data": "RECCON DailyDialog train (fitted and tuned, 5-fold CV grouped by dialogue); valid scored once",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared 2-core box, no GPU)",
        "weights_sha256": hashlib.sha256(args.out.read_bytes()).hexdigest(),
        "train_cases": len(train), "turn_c": turn_c, "clause_c": clause_c,
        "cv_log_loss": {"turn": turn_losses, "clause": clause_losses}, "cv": settings,
        "valid": dev, "train_wall_s": round(time.perf_counter() - started, 1),
    }
    METRICS_PATH.write_text(json.dumps(metrics, indent=1) + "\n")
    print(json.dumps(dev, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
