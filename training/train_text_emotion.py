"""Train the default text emotion head: `python -m training.train_text_emotion`.

Data ($EMPATHIC_DATA, default <repo>/../shared/data), all in the one 7-label space (training/text_emotion_data.py):
GoEmotions train (Ekman mapping; multi-label rows kept as soft targets), MELD train (Friends dialogue; the previous
utterance of the dialogue as context) and EmpatheticDialogues situations train (32 emotions mapped approximately).
Reported once, after every choice: GoEmotions dev, MELD dev, ED situations valid. No test split is read.

Recipe: encode every text once with all-MiniLM-L6-v2 (cached, see text_emotion_data), hold out 15% of each TRAIN set
(GoEmotions stratified by its rarest label, MELD by whole dialogues, ED at random; seeded) as a tuning split, fit
candidate heads on [utterance, previous turn, has-previous] (class-balanced soft-target MLPs) on the rest, pool each
log-linearly with a TF-IDF word 1-2-gram logistic regression, and tune two sets of per-class logit offsets: one for
utterances alone (GoEmotions and ED tuning rows, mean macro-F1) and one for utterances with a previous turn (MELD
tuning rows, the mean of weighted- and macro-F1). Every choice (candidate, n-gram C, pool weight) maximises the mean
over the three tuning splits of GoEmotions macro-F1, MELD (weighted-F1 + macro-F1) / 2 and ED macro-F1. Dev never
steers a choice; the replaced head is scored on the same dev sets for comparison.

GoEmotions dev scoring as before: top label; accuracy = top label among the gold labels; per-class F1 over the
multi-label gold indicators; macro-F1 = their mean. MELD and ED are single-label: weighted- and macro-F1 (ED has no
neutral: its macro-F1 is over the 6 labels it has).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from perception.assets import sha256_of
from perception.cues import LABELS
from perception.text_emotion import (
    EMBEDDING_MODEL_NAME,
    HEAD_PATH,
    EmotionHead,
    NgramScorer,
    SentenceEmbedder,
    head_inputs,
)
from training.text_emotion_data import (
    EMBED_EVERY,
    TextSet,
    data_root,
    dev_sets,
    embedded_rows,
    embeddings_of,
    take,
    train_sets,
)

METRICS_PATH = HEAD_PATH.with_name("text_emotion_metrics.json")
SEED = 20240607
TUNE_FRACTION = 0.15
NGRAM_MAX_TERMS = 20000  # the 20k most frequent 1-2-grams: as good as 50k on the tune split, at 0.4 of the file
NGRAM_C_VALUES = (1.0,)  # C = 1 won on GoEmotions' tuning split before (of 1, 2, 4)
NGRAM_WEIGHTS = (0.45, 0.6, 0.75)
# How much the carried-over GoEmotions reader (see main) counts against the new one: on utterances alone, and on
# utterances with a previous turn.
AUX_WEIGHTS = (0.0, 0.4, 0.6, 0.8)
CONTEXT_AUX_WEIGHTS = (0.0, 0.3)
OFFSET_GRID = np.arange(-2.0, 2.01, 0.1, dtype=np.float32)


@dataclass(frozen=True)
class Encoded:
    """A TextSet with its head inputs ([utterance, previous, has-previous]) and which rows have a previous turn."""

    data: TextSet
    inputs: np.ndarray
    has_previous: np.ndarray

    def subset(self, rows: np.ndarray) -> "Encoded":
        d = self.data
        return Encoded(TextSet(d.name, d.split, [d.texts[i] for i in rows], [d.previous[i] for i in rows],
                               d.targets[rows], d.groups[rows], d.files), self.inputs[rows], self.has_previous[rows])


def encode(text_set: TextSet, embedder: SentenceEmbedder) -> Encoded:
    utterances, previous = embeddings_of(text_set, embedder)
    has_previous = np.array([bool(turn) for turn in text_set.previous])
    return Encoded(text_set, head_inputs(utterances, previous, has_previous), has_previous)


def class_weights(targets: np.ndarray, power: float = 1.0) -> np.ndarray:
    """Balanced weights (n / (k * count)) ** power from soft counts, so rare fear and disgust are not drowned by
    joy; power 0.5 balances halfway (the logit offsets then finish the job)."""
    soft = targets / targets.sum(axis=1, keepdims=True)
    counts = soft.sum(axis=0)
    return ((len(targets) / (targets.shape[1] * np.maximum(counts, 1.0))) ** power).astype(np.float32)


def _f1_parts(gold: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class F1 (0 where a class is neither gold nor predicted) and gold support, for multi-hot `gold` rows
    against the one-hot top-1 `predicted` (label indices). Plain numpy: the offset search calls it thousands of
    times."""
    one_hot = np.eye(len(LABELS), dtype=np.float64)[predicted]
    true_positive = (gold * one_hot).sum(axis=0)
    denominator = gold.sum(axis=0) + one_hot.sum(axis=0)
    f1 = np.divide(2 * true_positive, denominator, out=np.zeros(len(LABELS)), where=denominator > 0)
    return f1, gold.sum(axis=0)


def goemotions_scores(logits: np.ndarray, targets: np.ndarray) -> dict:
    """Top-1 prediction against (possibly multi-label) gold: accuracy = top label among the gold labels;
    per-class F1 over gold indicators against the one-hot prediction; macro-F1 = their mean."""
    predicted = logits.argmax(axis=1)
    per_class, support = _f1_parts(targets, predicted)
    return {
        "n": int(len(targets)),
        "macro_f1": float(per_class.mean()),
        "accuracy": float(targets[np.arange(len(targets)), predicted].mean()),
        "per_class_f1": {label: float(f) for label, f in zip(LABELS, per_class)},
        "support": {label: int(c) for label, c in zip(LABELS, support)},
    }


def single_label_scores(logits: np.ndarray, targets: np.ndarray) -> dict:
    """Weighted- and macro-F1 (over the labels the gold has, as scikit-learn's f1_score with labels=present) and
    accuracy for single-label sets."""
    predicted = logits.argmax(axis=1)
    per_class, support = _f1_parts(targets, predicted)
    present = support > 0
    return {
        "n": int(len(targets)),
        "weighted_f1": float((per_class * support).sum() / support.sum()),
        "macro_f1": float(per_class[present].mean()),
        "accuracy": float(targets[np.arange(len(targets)), predicted].mean()),
        "per_class_f1": {LABELS[i]: float(per_class[i]) for i in np.flatnonzero(present)},
        "support": {LABELS[i]: int(support[i]) for i in np.flatnonzero(present)},
    }


def set_scores(name: str, logits: np.ndarray, targets: np.ndarray) -> dict:
    return goemotions_scores(logits, targets) if name == "goemotions" else single_label_scores(logits, targets)


def objective(name: str, logits: np.ndarray, targets: np.ndarray) -> float:
    """What choices maximise on a set: GoEmotions and ED macro-F1; MELD the mean of weighted- and macro-F1 (its
    goal is weighted-F1, which alone would reward calling nearly everything neutral)."""
    result = set_scores(name, logits, targets)
    return 0.5 * (result["weighted_f1"] + result["macro_f1"]) if name == "meld" else result["macro_f1"]


def tune_offsets(score: Callable[[np.ndarray], float], rounds: int = 3) -> np.ndarray:
    """Per-class additive logit offsets that raise `score(offsets)` (coordinate ascent on a grid)."""
    offsets = np.zeros(len(LABELS), dtype=np.float32)
    best = score(offsets)
    for _ in range(rounds):
        improved = False
        for c in range(len(LABELS)):
            for value in OFFSET_GRID:
                trial = offsets.copy()
                trial[c] = value
                result = score(trial)
                if result > best + 1e-6:
                    best, offsets, improved = result, trial, True
        if not improved:
            break
    return offsets


def row_weights(sets: list[Encoded], class_power: float, equal_sets: bool) -> np.ndarray:
    """Per-row training weights: class-balanced over all rows (soft counts) and, with `equal_sets`, each set
    weighing as much in total as the others (GoEmotions has four times MELD's rows)."""
    targets = np.vstack([s.data.targets for s in sets])
    soft = targets / targets.sum(axis=1, keepdims=True)
    weights = soft @ class_weights(targets, class_power)
    if equal_sets:
        sizes = [len(s.data) for s in sets]
        scale = np.concatenate([np.full(n, np.mean(sizes) / n) for n in sizes])
        weights = weights * scale
    return weights.astype(np.float32)


def fit_mlp(x: np.ndarray, targets: np.ndarray, weights: np.ndarray, hidden: int, epochs: int,
            dropout: float = 0.3, weight_decay: float = 1e-3) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """One hidden ReLU layer, soft-target cross-entropy weighted per row; seeded, so repeatable."""
    import torch

    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED)
    soft = torch.from_numpy(targets / targets.sum(axis=1, keepdims=True))
    row_weight = torch.from_numpy(weights)
    inputs = torch.from_numpy(x)
    model = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.ReLU(), torch.nn.Dropout(dropout),
                                torch.nn.Linear(hidden, targets.shape[1]))
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=weight_decay)
    for _ in range(epochs):
        model.train()
        for batch in torch.randperm(len(inputs), generator=generator).split(256):
            log_probs = torch.log_softmax(model(inputs[batch]), dim=1)
            loss = (-(soft[batch] * log_probs).sum(dim=1) * row_weight[batch]).sum() / row_weight[batch].sum()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    first, last = model[0], model[3]
    return ([first.weight.detach().numpy().T.copy(), last.weight.detach().numpy().T.copy()],
            [first.bias.detach().numpy().copy(), last.bias.detach().numpy().copy()])


def fit_ngrams(texts: list[str], targets: np.ndarray, weights: np.ndarray, c_value: float,
               max_terms: int = NGRAM_MAX_TERMS) -> NgramScorer:
    """TF-IDF word 1-2-grams and a logistic regression over the 7 labels; a multi-label row becomes one copy per
    label, its weight split over them."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=max_terms,
                                 dtype=np.float32)
    features = vectorizer.fit_transform(texts)
    rows, labels = np.nonzero(targets)
    sample_weight = weights[rows] / targets.sum(axis=1)[rows]
    model = LogisticRegression(C=c_value, max_iter=2000, random_state=SEED)
    model.fit(features[rows], labels, sample_weight=sample_weight)
    terms = [""] * len(vectorizer.vocabulary_)
    for term, index in vectorizer.vocabulary_.items():
        terms[index] = term
    return NgramScorer(tuple(terms), vectorizer.idf_.astype(np.float32), model.coef_.T.astype(np.float32),
                       model.intercept_.astype(np.float32))


def holdout(text_set: TextSet, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices (fit, tune): GoEmotions stratified by each row's rarest gold label (so fear and disgust land in
    both), MELD by whole dialogues (a dialogue's turns never straddle the split), ED at random."""
    rng = np.random.default_rng(SEED)
    n = len(text_set)
    if text_set.name == "meld":
        dialogues = np.unique(text_set.groups)
        chosen = rng.permutation(dialogues)[: int(round(fraction * len(dialogues)))]
        tune_mask = np.isin(text_set.groups, chosen)
    else:
        targets = text_set.targets
        stratum = np.where(targets > 0, targets.sum(axis=0)[None, :], np.inf).argmin(axis=1)
        tune_mask = np.zeros(n, dtype=bool)
        for value in np.unique(stratum):
            members = rng.permutation(np.flatnonzero(stratum == value))
            tune_mask[members[: int(round(fraction * len(members)))]] = True
    return np.flatnonzero(~tune_mask), np.flatnonzero(tune_mask)


def stack(sets: list[Encoded]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    return (np.vstack([s.inputs for s in sets]), np.vstack([s.data.targets for s in sets]),
            [t for s in sets for t in s.data.texts])


def tuned_head(head: EmotionHead, tune: list[Encoded]) -> tuple[EmotionHead, float, dict]:
    """The head with both offset sets tuned on the tuning splits, its mean objective there and per-set scores."""
    bare = dataclasses.replace(head, logit_offsets=np.zeros(len(LABELS), np.float32), context_logit_offsets=None)
    logits = {s.data.name: bare.logits(s.inputs, s.data.texts) for s in tune}
    alone = [s for s in tune if s.data.name != "meld"]

    def alone_score(offsets: np.ndarray) -> float:
        return float(np.mean([objective(s.data.name, logits[s.data.name] + offsets, s.data.targets) for s in alone]))

    offsets = tune_offsets(alone_score)
    meld = next(s for s in tune if s.data.name == "meld")
    with_previous = meld.has_previous

    def meld_score(context_offsets: np.ndarray) -> float:
        shifted = logits["meld"] + np.where(with_previous[:, None], context_offsets, offsets)
        return objective("meld", shifted, meld.data.targets)

    context_offsets = tune_offsets(meld_score) if head.reads_previous_turn else offsets
    tuned = dataclasses.replace(bare, logit_offsets=offsets, context_logit_offsets=context_offsets
                                if head.reads_previous_turn else None)
    per_set = {s.data.name: round(objective(s.data.name, tuned.logits(s.inputs, s.data.texts), s.data.targets), 4)
               for s in tune}
    return tuned, float(np.mean(list(per_set.values()))), per_set


# name -> (reads the previous turn, class-balance power, each set weighing alike, hidden units, epochs)
# (Few, on purpose: the box is two shared cores; each candidate costs minutes.)
CANDIDATES: dict[str, tuple[bool, float, bool, int, int]] = {
    "context_mlp_h256_e10_sets_equal": (True, 0.5, True, 256, 10),
    "utterance_mlp_h256_e10_sets_equal": (False, 0.5, True, 256, 10),
}


def dev_report(head: EmotionHead, dev: list[Encoded]) -> dict:
    out = {}
    for s in dev:
        inputs = s.inputs if head.reads_previous_turn else s.inputs[:, : head.weights[0].shape[0]]
        out[s.data.name] = set_scores(s.data.name, head.logits(inputs, s.data.texts), s.data.targets)
        if s.data.name == "goemotions":
            single = s.data.targets.sum(axis=1) == 1
            out["goemotions_single_label_rows"] = set_scores("goemotions", head.logits(inputs[single], [
                t for t, keep in zip(s.data.texts, single) if keep]), s.data.targets[single])
        if s.data.name == "meld" and head.reads_previous_turn:
            alone = head_inputs(s.inputs[:, :384], None, None)
            out["meld_without_previous_turn"] = set_scores("meld", head.logits(alone, s.data.texts), s.data.targets)
    return out


def rounded(value: object) -> object:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.train_text_emotion", description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", choices=sorted(CANDIDATES), help="try only these candidates")
    parser.add_argument("--dry-run", action="store_true", help="report, but do not write the head or metrics")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch (default 2)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(args.threads)
    embedder = SentenceEmbedder(threads=args.threads)
    full = train_sets()
    dev = [encode(s, embedder) for s in dev_sets()]
    splits = [holdout(s, TUNE_FRACTION) for s in full]
    fit, tune, ngram_fit = [], [], []
    for text_set, (fit_rows, tune_rows) in zip(full, splits):
        every = EMBED_EVERY[text_set.name]
        rows = embedded_rows(text_set, every)
        encoded = encode(take(text_set, rows, f"{text_set.split}-every{every}" if every > 1 else None), embedder)
        fit.append(encoded.subset(np.flatnonzero(np.isin(rows, fit_rows))))
        tune.append(encoded.subset(np.flatnonzero(np.isin(rows, tune_rows))))
        ngram_fit.append(take(text_set, fit_rows))
    x_fit, y_fit, _ = stack(fit)

    replaced = None
    try:
        replaced = EmotionHead.load(HEAD_PATH)
        replaced_dev = dev_report(replaced, dev)
    except Exception as err:  # a missing or foreign head has nothing to compare
        replaced_dev = {"error": str(err)}

    tried: dict[str, dict] = {}
    best: tuple[float, str, EmotionHead | None, dict] = (-1.0, "", None, {})
    for name, (reads_previous, power, equal_sets, hidden, epochs) in CANDIDATES.items():
        if args.only and name not in args.only:
            continue
        started = time.perf_counter()
        width = x_fit.shape[1] if reads_previous else 384
        weights, biases = fit_mlp(x_fit[:, :width], y_fit, row_weights(fit, power, equal_sets), hidden, epochs)
        head = EmotionHead(tuple(weights), tuple(biases), LABELS, np.zeros(len(LABELS), np.float32),
                           EMBEDDING_MODEL_NAME, embedder.weights_sha256)
        tune_view = [Encoded(s.data, s.inputs[:, :width], s.has_previous) for s in tune]
        head, mean_score, per_set = tuned_head(head, tune_view)
        tried[name] = {"tune_objective_mean": round(mean_score, 4), "tune_objective": per_set,
                       "fit_seconds": round(time.perf_counter() - started, 1)}
        print(f"{name}: tune {mean_score:.4f} {per_set} ({tried[name]['fit_seconds']} s)", flush=True)
        if mean_score > best[0]:
            best = (mean_score, name, head, {"width": width, "power": power, "equal_sets": equal_sets})
    best_score, best_name, best_head, setting = best
    assert best_head is not None, "no candidate ran"

    # The network of the head this replaces, carried over as an auxiliary on the utterance alone: it learnt
    # GoEmotions' 28 fine labels from 85% of GoEmotions train, more of it than the new head sees (EMBED_EVERY). Its
    # own choices were tuned on the rows that are GoEmotions' tuning split here too (same seeded split), so its
    # pool weight is chosen on rows it never trained on, if not quite unseen.
    aux = None
    if replaced is not None and replaced.aux_weights:
        aux = dict(aux_weights=replaced.aux_weights, aux_biases=replaced.aux_biases,
                   aux_output_pool=replaced.aux_output_pool, aux_ngrams=replaced.aux_ngrams,
                   aux_ngram_weight=replaced.aux_ngram_weight)
    elif replaced is not None and not replaced.reads_previous_turn:
        aux = dict(aux_weights=replaced.weights, aux_biases=replaced.biases, aux_output_pool=replaced.output_pool,
                   aux_ngrams=replaced.ngrams, aux_ngram_weight=replaced.ngram_weight)
    pool_grid = [(w, a, c) for w in NGRAM_WEIGHTS for a in (AUX_WEIGHTS if aux else (0.0,))
                 for c in (CONTEXT_AUX_WEIGHTS if aux else (0.0,))]

    # Second stage: pool the chosen head with word n-grams and the auxiliary (C and pool weights chosen on the same
    # tuning splits, offsets retuned); kept only if it beats the head alone there.
    width = setting["width"]
    tune_view = [Encoded(s.data, s.inputs[:, :width], s.has_previous) for s in tune]
    chosen, stage_one = best_name, best_head
    for c_value in NGRAM_C_VALUES:
        started = time.perf_counter()
        ngram_encoded = [Encoded(t, np.zeros((len(t), 1), np.float32), np.zeros(len(t), bool)) for t in ngram_fit]
        ngrams = fit_ngrams([x for t in ngram_fit for x in t.texts], np.vstack([t.targets for t in ngram_fit]),
                            row_weights(ngram_encoded, 0.5, setting["equal_sets"]), c_value)
        for weight, aux_weight, context_aux_weight in pool_grid:
            pooled = dataclasses.replace(stage_one, ngrams=ngrams, ngram_weight=weight)
            if aux is not None and max(aux_weight, context_aux_weight) > 0:
                pooled = dataclasses.replace(pooled, **aux, aux_weight=aux_weight,
                                             context_aux_weight=context_aux_weight)
            pooled, mean_score, per_set = tuned_head(pooled, tune_view)
            name = (f"{best_name}+ngrams_c{c_value:g}_w{weight:g}+aux_w{aux_weight:g}"
                    f"_context{context_aux_weight:g}")
            tried[name] = {"tune_objective_mean": round(mean_score, 4), "tune_objective": per_set,
                           "fit_seconds": round(time.perf_counter() - started, 1)}
            print(f"{name}: tune {mean_score:.4f} {per_set}", flush=True)
            if mean_score > best_score:
                best_score, best_head, chosen = mean_score, pooled, name

    dev_scores = dev_report(best_head, dev)
    files = [f for s in full for f in s.files] + [f for s in dev for f in s.data.files]
    metrics = {
        "model": f"{chosen}: head on {EMBEDDING_MODEL_NAME} sentence embeddings (384-d, unit length)"
                 + (" of the utterance and of the previous turn (+ a has-previous flag)"
                    if best_head.reads_previous_turn else "")
                 + (f", pooled log-linearly with the replaced head (its GoEmotions network and n-grams) at weight "
                    f"{best_head.aux_weight:g} alone, {best_head.context_aux_weight:g} after a previous turn"
                    if best_head.aux_weights else "")
                 + (f", pooled log-linearly with TF-IDF word 1-2-gram logistic regression "
                    f"({len(best_head.ngrams.terms)} terms) at weight {best_head.ngram_weight:g}"
                    if best_head.ngrams is not None else ""),
        "embedding_model": EMBEDDING_MODEL_NAME,
        "embedding_sha256": embedder.weights_sha256,
        "labels": list(LABELS),
        "data": "GoEmotions train (Ekman mapping, multi-label rows as soft targets), MELD train (previous utterance "
                "of the dialogue as context), EmpatheticDialogues situations train (32 -> 7, approximate); "
                "scored on GoEmotions dev, MELD dev, ED situations valid",
        "files": {str(f.relative_to(data_root())): sha256_of(f) for f in files},
        "train": {t.name: {"n": len(t), "n_fit": int(len(fit_rows)), "n_tune": int(len(tune_rows)),
                           "head_rows_embedded_every": EMBED_EVERY[t.name], "head_n_fit": len(f.data),
                           "head_n_tune": len(u.data), "with_previous_turn": int(sum(bool(p) for p in t.previous))}
                  for t, (fit_rows, tune_rows), f, u in zip(full, splits, fit, tune)},
        "subsample": "the head learns from the embeddings of every k-th distinct train text in sorted order "
                     "(head_rows_embedded_every; encoding all of them did not fit this round on the shared box); "
                     "the word n-grams, the splits and the reported dev scores use every row",
        "split": "dev sets scored once after every choice was made on 15% tuning splits of each train set",
        "scoring": "GoEmotions: top-1 label; accuracy = top label among the gold labels; per-class F1 over "
                   "multi-label gold indicators vs one-hot prediction; macro_f1 = mean over the 7 labels. MELD, ED: "
                   "single label; weighted_f1 and macro_f1 over the labels the gold has",
        "dev": rounded(dev_scores),
        "replaced_head_dev": rounded(replaced_dev),
        "candidates_on_tune_split": tried,
        "chosen": chosen,
        "logit_offsets": {label: round(float(v), 2) for label, v in zip(LABELS, best_head.logit_offsets)},
        "context_logit_offsets": None if best_head.context_logit_offsets is None else
        {label: round(float(v), 2) for label, v in zip(LABELS, best_head.context_logit_offsets)},
        "valence": "not learned: valence/arousal = probability-weighted circumplex placements "
                   "(perception.cues.valence_arousal_from_probs)",
        "seed": SEED,
        "command": "python -m training.train_text_emotion" + (" " + " ".join(argv or sys.argv[1:])).rstrip(),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": f"{platform.machine()} {platform.system()} {platform.release()}, {os.cpu_count()} CPU cores "
                   f"({platform.processor() or 'cpu'}), torch threads {args.threads}, shared with other jobs",
    }
    if not args.dry_run:
        best_head.save(HEAD_PATH)
        METRICS_PATH.write_text(json.dumps(metrics, indent=2) + "\n")
        print(f"saved {HEAD_PATH} ({HEAD_PATH.stat().st_size // 1024} KB) and {METRICS_PATH}")
    print(f"chosen {chosen}")
    for name, result in dev_scores.items():
        before = replaced_dev.get(name, {}) if isinstance(replaced_dev, dict) else {}
        print(f"  dev {name}: " + ", ".join(f"{k} {v:.4f} (was {before.get(k, float('nan')):.4f})"
                                           for k, v in result.items() if k in ("macro_f1", "weighted_f1", "accuracy")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
