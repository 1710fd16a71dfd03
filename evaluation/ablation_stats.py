"""The ablation's numbers: per condition accuracy, macro/weighted F1, per-class precision/recall/F1, the confusion
matrix, valence/arousal error, bootstrap 95% intervals; per pair of conditions an exact McNemar test.

Point figures come from scikit-learn. The bootstrap resamples samples (the same resample for every figure of a
condition) and recomputes the figures from confusion matrices built with numpy, which is what makes 1000 resamples
of a few thousand samples take milliseconds; a test checks it against scikit-learn on the original data.

Macro-F1 averages over the classes that occur in the gold labels of the data set (the same classes for every
condition, so conditions compare): a class the data set has no examples of (Emo-DB has no surprise) would only add
a 0 that says nothing about the model. Predicting such a class still costs precision elsewhere.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from basics.labels import LABELS

BOOTSTRAP_RESAMPLES = 1000
INTERVAL = 0.95


def scored_labels(gold: Iterable[str]) -> list[str]:
    """The classes macro-F1 averages over: those present in the gold labels, in LABELS order."""
    present = set(gold)
    return [label for label in LABELS if label in present]


def _indices(values: Sequence[str]) -> np.ndarray:
    order = {label: i for i, label in enumerate(LABELS)}
    return np.fromiter((order[v] for v in values), dtype=np.int64, count=len(values))


def _f1_from_confusions(confusions: np.ndarray, classes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Accuracy, macro-F1 and weighted F1 of a stack of confusion matrices (B, 7, 7) rows gold, columns predicted."""
    true_positive = np.diagonal(confusions, axis1=1, axis2=2).astype(np.float64)
    support = confusions.sum(axis=2).astype(np.float64)
    predicted = confusions.sum(axis=1).astype(np.float64)
    denominator = support + predicted
    f1 = np.divide(2 * true_positive, denominator, out=np.zeros_like(true_positive), where=denominator > 0)
    total = support.sum(axis=1)
    accuracy = true_positive.sum(axis=1) / np.maximum(total, 1)
    macro = f1[:, classes].mean(axis=1)
    weights = support[:, classes]
    weighted = (f1[:, classes] * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1)
    return accuracy, macro, weighted


def confusions_for(gold_idx: np.ndarray, pred_idx: np.ndarray, resamples: np.ndarray | None = None) -> np.ndarray:
    """Confusion matrices (B, 7, 7) for each row of `resamples` (indices into the samples); B = 1 without."""
    k = len(LABELS)
    cells = gold_idx * k + pred_idx
    if resamples is None:
        return np.bincount(cells, minlength=k * k).reshape(1, k, k)
    b = resamples.shape[0]
    flat = (np.arange(b)[:, None] * k * k + cells[resamples]).ravel()
    return np.bincount(flat, minlength=b * k * k).reshape(b, k, k)


def interval(values: np.ndarray) -> list[float]:
    low, high = np.quantile(values, [(1 - INTERVAL) / 2, 1 - (1 - INTERVAL) / 2])
    return [round(float(low), 4), round(float(high), 4)]


def _mae(pred: Sequence[float], gold: Sequence[float | None]) -> tuple[float | None, int, float | None]:
    """(mean absolute error, n, the error of always predicting 0: the baseline a reading must beat)."""
    pairs = [(p, g) for p, g in zip(pred, gold) if g is not None and p is not None and math.isfinite(p)]
    if not pairs:
        return None, 0, None
    return (round(float(np.mean([abs(p - g) for p, g in pairs])), 4), len(pairs),
            round(float(np.mean([abs(g) for _, g in pairs])), 4))


@dataclass(frozen=True)
class ConditionData:
    """One condition's predictions on the labelled samples, in the same sample order for every condition."""

    gold: list[str]  # labelled samples only (and `predicted` alongside)
    predicted: list[str]
    evidence: list[bool]  # every sample: did any of the condition's modalities give a usable cue
    valence_pred: list[float]
    valence_gold: list[float | None]
    arousal_pred: list[float]
    arousal_gold: list[float | None]


def condition_metrics(data: ConditionData, classes: Sequence[str], resamples: np.ndarray | None) -> dict:
    """Every figure of one condition. `classes`: what macro-F1 averages over; `resamples`: (B, n) bootstrap indices
    into the labelled samples (None: no intervals)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    result: dict = {"n": len(data.gold), "coverage": round(float(np.mean(data.evidence)), 4) if data.evidence else 0.0}
    for name, pred, gold in (("valence", data.valence_pred, data.valence_gold),
                             ("arousal", data.arousal_pred, data.arousal_gold)):
        mae, count, zero_mae = _mae(pred, gold)
        if count:
            result[f"{name}_mae"], result[f"{name}_n"], result[f"{name}_mae_predicting_0"] = mae, count, zero_mae
    if not data.gold:
        return result
    classes = list(classes)
    precision, recall, f1, support = precision_recall_fscore_support(
        data.gold, data.predicted, labels=list(LABELS), zero_division=0)
    result.update(
        accuracy=round(float(accuracy_score(data.gold, data.predicted)), 4),
        macro_f1=round(float(f1_score(data.gold, data.predicted, labels=classes, average="macro", zero_division=0)), 4),
        weighted_f1=round(float(f1_score(data.gold, data.predicted, labels=classes, average="weighted",
                                         zero_division=0)), 4),
        per_class={label: {"precision": round(float(p), 4), "recall": round(float(r), 4), "f1": round(float(f), 4),
                           "support": int(s)}
                   for label, p, r, f, s in zip(LABELS, precision, recall, f1, support)},
        confusion_matrix={"labels": list(LABELS), "rows_gold_columns_predicted":
                          confusion_matrix(data.gold, data.predicted, labels=list(LABELS)).tolist()},
    )
    if resamples is not None and len(data.gold) > 1:
        gold_idx, pred_idx = _indices(data.gold), _indices(data.predicted)
        class_idx = np.array([LABELS.index(c) for c in classes])
        accuracy, macro, weighted = _f1_from_confusions(confusions_for(gold_idx, pred_idx, resamples), class_idx)
        result["ci95"] = {"accuracy": interval(accuracy), "macro_f1": interval(macro),
                          "weighted_f1": interval(weighted)}
    return result


def mcnemar_exact(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> dict:
    """The exact (binomial) McNemar test on paired correctness: b = only A right, c = only B right."""
    from scipy.stats import binomtest

    only_a = sum(1 for a, b in zip(correct_a, correct_b) if a and not b)
    only_b = sum(1 for a, b in zip(correct_a, correct_b) if b and not a)
    discordant = only_a + only_b
    p_value = 1.0 if discordant == 0 else float(binomtest(only_a, discordant, 0.5).pvalue)
    return {"n": len(correct_a), "only_a_correct": only_a, "only_b_correct": only_b, "p_value": _significant(p_value)}


def _significant(p_value: float) -> float:
    """Three significant digits: a p of 3e-19 must not print as 0."""
    return float(f"{p_value:.3g}")


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order as given): many pairs are tested at once."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [0.0] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = _significant(running)
    return adjusted


def ablation_metrics(by_condition: Mapping[str, ConditionData], seed: int = 0,
                     resamples: int = BOOTSTRAP_RESAMPLES) -> dict:
    """{"classes", "conditions": {name: metrics}, "pairs": [{a, b, McNemar, Holm}]}. Every condition must hold the
    same labelled samples in the same order (they do: each is the same manifest through a different fusion)."""
    conditions = list(by_condition)
    sizes = {len(d.gold) for d in by_condition.values()}  # labelled samples
    if len(sizes) > 1:
        raise ValueError(f"conditions hold different numbers of labelled samples: {sorted(sizes)}")
    n = sizes.pop() if sizes else 0
    first = next(iter(by_condition.values()), None)
    classes = scored_labels(first.gold) if first else []
    draws = np.random.default_rng(seed).integers(0, n, size=(resamples, n)) if n > 1 and resamples > 0 else None
    metrics = {name: condition_metrics(data, classes, draws) for name, data in by_condition.items()}
    pairs = []
    for a, b in combinations(conditions, 2):
        correct_a = [g == p for g, p in zip(by_condition[a].gold, by_condition[a].predicted)]
        correct_b = [g == p for g, p in zip(by_condition[b].gold, by_condition[b].predicted)]
        pairs.append({"a": a, "b": b, **mcnemar_exact(correct_a, correct_b)})
    for pair, adjusted in zip(pairs, holm([p["p_value"] for p in pairs])):
        pair["p_holm"] = adjusted
    return {"classes": classes, "bootstrap_resamples": resamples if draws is not None else 0, "seed": seed,
            "conditions": metrics, "pairs": pairs}


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct n-grams over all n-grams of the replies (lower-cased words): 1.0 means no repetition at all."""
    grams = [tuple(words[i:i + n]) for text in texts for words in [text.lower().split()]
             for i in range(len(words) - n + 1)]
    return round(len(set(grams)) / len(grams), 4) if grams else 0.0
