"""Train the default text emotion head: `python -m training.train_text_emotion`.

Data: GoEmotions (Apache-2.0) from $EMPATHIC_DATA/goemotions (default <repo>/../shared/data): `train_ekman.tsv`
for training, `dev_ekman.tsv` for the reported scores only. These are the official Ekman mapping of the 27
emotions plus neutral, applied row for row (see the data's SOURCE.txt).

Multi-label rows (3,855 of 43,410 in train): kept, each row counts once in total with its weight split evenly over
its labels (a soft target), rather than dropped or forced to one label.

Recipe: encode every text once with all-MiniLM-L6-v2 (cached as .npy under $EMPATHIC_EMBED_CACHE, default
/tmp/empathic_text_emotion, keyed by the data file's and the encoder's sha256), hold out 15% of TRAIN (stratified,
seeded) as a tuning split, fit candidate heads (class-balanced logistic regression, one-hidden-layer MLPs on the 7
labels, and MLPs on GoEmotions' 28 fine labels of `train.tsv` whose probabilities are summed into the 7 by the
official mapping: the finer targets teach the head more) on the rest, tune per-class logit offsets for macro-F1 on
the tuning split, keep the candidate with the best tuned macro-F1 there; then pool it log-linearly with a TF-IDF
word n-gram logistic regression (C and pool weight chosen on the same tuning split, kept only if it wins there),
and only then score it once on dev. Dev never steers a choice.

Dev scoring: every dev row, prediction = the top label. A prediction is right when it is among the row's gold
labels (accuracy); per-class F1 is computed over the multi-label gold indicators against the one-hot prediction,
the usual GoEmotions macro-F1 (a multi-label model can only gain recall there, so this is slightly harsh on us).
The single-label dev rows alone are reported as well.
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
from typing import Any, cast

import numpy as np

from basics.assets import sha256_of
from basics.labels import LABELS
from perception.text_emotion import EMBEDDING_MODEL_NAME, HEAD_PATH, EmotionHead, NgramScorer, SentenceEmbedder

REPO = Path(__file__).resolve().parent.parent
METRICS_PATH = HEAD_PATH.with_name("text_emotion_metrics.json")
SEED = 20240607
TUNE_FRACTION = 0.15
NGRAM_MAX_TERMS = 20000  # the 20k most frequent 1-2-grams: as good as 50k on the tune split, at 0.4 of the file
NGRAM_C_VALUES = (1.0, 2.0, 4.0)
NGRAM_WEIGHTS = (0.3, 0.4, 0.5, 0.6, 0.7)
# Raw label strings in the Ekman files index this order (goemotions/ekman_labels.txt); checked at load time.
EKMAN_FILE_LABELS = ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")


def data_dir() -> Path:
    return Path(os.environ.get("EMPATHIC_DATA", REPO.parent / "shared" / "data")) / "goemotions"


def cache_dir() -> Path:
    return Path(os.environ.get("EMPATHIC_EMBED_CACHE", "/tmp/empathic_text_emotion"))


@dataclass(frozen=True)
class Split:
    name: str
    texts: list[str]
    targets: np.ndarray  # (n, 7) multi-hot over LABELS
    path: Path


def read_split(path: Path) -> Split:
    file_labels = tuple(data_dir().joinpath("ekman_labels.txt").read_text().split())
    if file_labels != EKMAN_FILE_LABELS:
        raise SystemExit(f"{path.parent}/ekman_labels.txt has labels {file_labels}, expected {EKMAN_FILE_LABELS}")
    texts, rows = [], []
    for line_number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split("\t")
        if len(parts) < 2:
            raise SystemExit(f"{path}:{line_number}: expected text<TAB>labels<TAB>id")
        row = np.zeros(len(LABELS), dtype=np.float32)
        for label_id in parts[1].split(","):
            row[LABELS.index(EKMAN_FILE_LABELS[int(label_id)])] = 1.0
        texts.append(parts[0])
        rows.append(row)
    return Split(path.stem, texts, np.stack(rows), path)


def cached_embeddings(split: Split, embedder: SentenceEmbedder) -> np.ndarray:
    key = f"{split.name}-{sha256_of(split.path)[:16]}-{embedder.weights_sha256[:16]}.npy"
    path = cache_dir() / key
    if path.exists():
        return np.load(path)
    started = time.perf_counter()
    vectors = embedder.embed(split.texts)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    print(f"encoded {len(split.texts)} {split.name} texts in {time.perf_counter() - started:.0f} s -> {path}",
          flush=True)
    return vectors


def class_weights(targets: np.ndarray, power: float = 1.0) -> np.ndarray:
    """Balanced weights (n / (k * count)) ** power from soft counts, so rare fear and disgust are not drowned by
    joy; power 0.5 balances halfway (the logit offsets then finish the job)."""
    soft = targets / targets.sum(axis=1, keepdims=True)
    counts = soft.sum(axis=0)
    return ((len(targets) / (targets.shape[1] * np.maximum(counts, 1.0))) ** power).astype(np.float32)


def read_fine_targets(path: Path, ekman: Split) -> tuple[np.ndarray, np.ndarray]:
    """The 27 emotions + neutral of train.tsv as multi-hot rows, and the (28, 7) matrix that sums them into LABELS
    by the official ekman_mapping.json; checked row for row against the Ekman file."""
    names = data_dir().joinpath("emotions.txt").read_text().split()
    mapping = json.loads(data_dir().joinpath("ekman_mapping.json").read_text())
    pool = np.zeros((len(names), len(LABELS)), dtype=np.float32)
    for i, name in enumerate(names):
        target = "neutral" if name == "neutral" else next(k for k, members in mapping.items() if name in members)
        pool[i, LABELS.index(target)] = 1.0
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = np.zeros(len(names), dtype=np.float32)
        row[[int(i) for i in line.split("\t")[1].split(",")]] = 1.0
        rows.append(row)
    fine = np.stack(rows)
    if fine.shape[0] != len(ekman.texts) or not np.array_equal(np.minimum(fine @ pool, 1.0), ekman.targets):
        raise SystemExit(f"{path} does not match {ekman.path} row for row under ekman_mapping.json")
    return fine, pool


def scores(probs: np.ndarray, targets: np.ndarray) -> dict:
    """Top-1 prediction against (possibly multi-label) gold: accuracy = top label among the gold labels;
    per-class F1 over gold indicators against the one-hot prediction; macro-F1 = their mean."""
    from sklearn.metrics import f1_score

    predicted = probs.argmax(axis=1)
    one_hot = np.eye(len(LABELS), dtype=np.float32)[predicted]
    per_class = f1_score(targets, one_hot, average=None, zero_division=0)
    return {
        "n": int(len(targets)),
        "macro_f1": float(per_class.mean()),
        "accuracy": float(targets[np.arange(len(targets)), predicted].mean()),
        "per_class_f1": {label: float(f) for label, f in zip(LABELS, per_class)},
        "support": {label: int(c) for label, c in zip(LABELS, targets.sum(axis=0))},
    }


def tune_logit_offsets(logits: np.ndarray, targets: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Per-class additive logit offsets that raise macro-F1 on a tuning split (coordinate ascent on a grid)."""
    offsets = np.zeros(len(LABELS), dtype=np.float32)
    grid = np.arange(-2.0, 2.01, 0.1, dtype=np.float32)
    best = scores(logits + offsets, targets)["macro_f1"]
    for _ in range(rounds):
        improved = False
        for c in range(len(LABELS)):
            for value in grid:
                trial = offsets.copy()
                trial[c] = value
                f1 = scores(logits + trial, targets)["macro_f1"]
                if f1 > best + 1e-6:
                    best, offsets, improved = f1, trial, True
        if not improved:
            break
    return offsets


def fit_logistic(x: np.ndarray, targets: np.ndarray, c_value: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Multinomial logistic regression; a multi-label row becomes one copy per label, weights summing to 1."""
    from sklearn.linear_model import LogisticRegression

    rows, labels = np.nonzero(targets)
    per_row = targets.sum(axis=1)
    weights = class_weights(targets)[labels] / per_row[rows]
    model = LogisticRegression(C=c_value, max_iter=2000, random_state=SEED)
    model.fit(x[rows], labels, sample_weight=weights)
    return [model.coef_.T.astype(np.float32)], [model.intercept_.astype(np.float32)]


def fit_mlp(x: np.ndarray, targets: np.ndarray, hidden: int, epochs: int, dropout: float = 0.3,
            weight_decay: float = 1e-3, weight_power: float = 1.0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """One hidden ReLU layer, soft-target cross-entropy with the balanced class weights; seeded, so repeatable."""
    import torch

    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED)
    soft = torch.from_numpy(targets / targets.sum(axis=1, keepdims=True))
    row_weights = soft @ torch.from_numpy(class_weights(targets, weight_power))
    inputs = torch.from_numpy(x)
    model = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.ReLU(), torch.nn.Dropout(dropout),
                                torch.nn.Linear(hidden, targets.shape[1]))
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=weight_decay)
    for _ in range(epochs):
        model.train()
        for batch in torch.randperm(len(inputs), generator=generator).split(256):
            log_probs = torch.log_softmax(model(inputs[batch]), dim=1)
            loss = (-(soft[batch] * log_probs).sum(dim=1) * row_weights[batch]).sum() / row_weights[batch].sum()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    first, last = cast(torch.nn.Linear, model[0]), cast(torch.nn.Linear, model[3])
    return ([first.weight.detach().numpy().T.copy(), last.weight.detach().numpy().T.copy()],
            [first.bias.detach().numpy().copy(), last.bias.detach().numpy().copy()])


def fit_ngrams(texts: list[str], targets: np.ndarray, c_value: float, max_terms: int = NGRAM_MAX_TERMS) -> NgramScorer:
    """TF-IDF word 1-2-grams and a logistic regression over the 7 labels, weighted as fit_logistic."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=max_terms,
                                 dtype=np.float32)
    features = vectorizer.fit_transform(texts)
    rows, labels = np.nonzero(targets)
    weights = class_weights(targets, 0.5)[labels] / targets.sum(axis=1)[rows]
    model = LogisticRegression(C=c_value, max_iter=2000, random_state=SEED)
    model.fit(features[rows], labels, sample_weight=weights)
    terms = [""] * len(vectorizer.vocabulary_)
    for term, index in vectorizer.vocabulary_.items():
        terms[index] = term
    return NgramScorer(tuple(terms), vectorizer.idf_.astype(np.float32), model.coef_.T.astype(np.float32),
                       model.intercept_.astype(np.float32))


def stratified_holdout(targets: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices (fit, tune): each row's rarest gold label decides its stratum, so fear/disgust land in both."""
    rng = np.random.default_rng(SEED)
    frequency = targets.sum(axis=0)
    stratum = np.where(targets > 0, frequency[None, :], np.inf).argmin(axis=1)
    tune: list[int] = []
    for value in np.unique(stratum):
        members = rng.permutation(np.flatnonzero(stratum == value))
        tune.extend(members[: int(round(fraction * len(members)))])
    tune_mask = np.zeros(len(targets), dtype=bool)
    tune_mask[tune] = True
    return np.flatnonzero(~tune_mask), np.flatnonzero(tune_mask)


# name -> (targets it learns: "ekman" = the 7 labels, "fine" = GoEmotions' 28 summed into the 7 after softmax; fit)
CANDIDATES = {
    "logreg_c1": ("ekman", lambda x, t: fit_logistic(x, t, 1.0)),
    "logreg_c4": ("ekman", lambda x, t: fit_logistic(x, t, 4.0)),
    "mlp_h256_e20": ("ekman", lambda x, t: fit_mlp(x, t, hidden=256, epochs=20)),
    "mlp_h512_e40": ("ekman", lambda x, t: fit_mlp(x, t, hidden=512, epochs=40, dropout=0.5)),
    "fine28_mlp_h256_e20_sqrtw": ("fine", lambda x, t: fit_mlp(x, t, hidden=256, epochs=20, weight_power=0.5)),
    "fine28_mlp_h256_e20": ("fine", lambda x, t: fit_mlp(x, t, hidden=256, epochs=20)),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.train_text_emotion", description=__doc__.split("\n")[0])
    parser.add_argument("--embed-only", action="store_true", help="fill the embedding cache and stop")
    parser.add_argument("--only", nargs="*", choices=sorted(CANDIDATES), help="try only these candidates")
    parser.add_argument("--dry-run", action="store_true", help="report, but do not write the head or metrics")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch (default 2)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(args.threads)
    embedder = SentenceEmbedder(threads=args.threads)
    train = read_split(data_dir() / "train_ekman.tsv")
    dev = read_split(data_dir() / "dev_ekman.tsv")
    x_train = cached_embeddings(train, embedder)
    x_dev = cached_embeddings(dev, embedder)
    if args.embed_only:
        return 0
    fine_targets, fine_pool = read_fine_targets(data_dir() / "train.tsv", train)
    fit_rows, tune_rows = stratified_holdout(train.targets, TUNE_FRACTION)
    tried = {}
    best_name, best_head, best_f1 = "", None, -1.0
    for name, (target_kind, fit) in CANDIDATES.items():
        if args.only and name not in args.only:
            continue
        started = time.perf_counter()
        fit_targets = fine_targets if target_kind == "fine" else train.targets
        pool = fine_pool if target_kind == "fine" else np.eye(len(LABELS), dtype=np.float32)
        weights, biases = fit(x_train[fit_rows], fit_targets[fit_rows])
        head = EmotionHead(tuple(weights), tuple(biases), LABELS, np.zeros(len(LABELS), np.float32),
                           EMBEDDING_MODEL_NAME, embedder.weights_sha256, pool)
        tune_logits = head.logits(x_train[tune_rows])
        offsets = tune_logit_offsets(tune_logits, train.targets[tune_rows])
        head = EmotionHead(head.weights, head.biases, LABELS, offsets, EMBEDDING_MODEL_NAME, embedder.weights_sha256,
                           pool)
        before = scores(tune_logits, train.targets[tune_rows])["macro_f1"]
        after = scores(head.logits(x_train[tune_rows]), train.targets[tune_rows])["macro_f1"]
        tried[name] = {"tune_macro_f1_raw": round(before, 4), "tune_macro_f1_with_offsets": round(after, 4),
                       "fit_seconds": round(time.perf_counter() - started, 1)}
        print(f"{name}: tune macro-F1 {before:.4f} raw, {after:.4f} with offsets "
              f"({tried[name]['fit_seconds']} s)", flush=True)
        if after > best_f1:
            best_name, best_head, best_f1 = name, head, after
    assert best_head is not None, "no candidate ran"

    # Second stage: pool the chosen head with word n-grams; C and the pooling weight chosen on the same tune split,
    # the offsets retuned for the pool. Kept only if it beats the head alone there.
    fit_texts = [train.texts[i] for i in fit_rows]
    tune_texts = [train.texts[i] for i in tune_rows]
    bare = dataclasses.replace(best_head, logit_offsets=np.zeros(len(LABELS), np.float32))
    for c_value in NGRAM_C_VALUES:
        started = time.perf_counter()
        ngrams = fit_ngrams(fit_texts, train.targets[fit_rows], c_value)
        for weight in NGRAM_WEIGHTS:
            pooled = dataclasses.replace(bare, ngrams=ngrams, ngram_weight=weight)
            tune_logits = pooled.logits(x_train[tune_rows], tune_texts)
            offsets = tune_logit_offsets(tune_logits, train.targets[tune_rows])
            after = scores(tune_logits + offsets, train.targets[tune_rows])["macro_f1"]
            name = f"{best_name}+ngrams_c{c_value:g}_w{weight:g}"
            tried[name] = {"tune_macro_f1_with_offsets": round(after, 4),
                           "fit_seconds": round(time.perf_counter() - started, 1)}
            print(f"{name}: tune macro-F1 {after:.4f} with offsets", flush=True)
            if after > best_f1:
                best_f1 = after
                best_head = dataclasses.replace(pooled, logit_offsets=offsets.astype(np.float32))
                chosen_pool = name
    best_name = chosen_pool if best_head.ngrams is not None else best_name

    dev_probs = best_head.probs(x_dev, dev.texts)
    single = dev.targets.sum(axis=1) == 1
    metrics: dict[str, Any] = {
        "model": f"{best_name}: head on {EMBEDDING_MODEL_NAME} sentence embeddings (384-d, unit length)"
                 + (f", pooled log-linearly with TF-IDF word 1-2-gram logistic regression "
                    f"({len(best_head.ngrams.terms)} terms) at weight {best_head.ngram_weight:g}"
                    if best_head.ngrams is not None else ""),
        "embedding_model": EMBEDDING_MODEL_NAME,
        "embedding_sha256": embedder.weights_sha256,
        "labels": list(LABELS),
        "data": "GoEmotions (Demszky et al. 2020, Apache-2.0), official Ekman mapping: goemotions/train_ekman.tsv "
                "(+ train.tsv's 28 fine labels for the fine28 candidates), goemotions/dev_ekman.tsv",
        "train": {"file": "goemotions/train_ekman.tsv", "sha256": sha256_of(train.path), "n": len(train.texts),
                  "n_fit": int(len(fit_rows)), "n_tune": int(len(tune_rows)),
                  "multi_label_rows": int((train.targets.sum(axis=1) > 1).sum()),
                  "multi_label_handling": "kept; each row's weight split evenly over its labels (soft target)"},
        "split": "dev (goemotions/dev_ekman.tsv), scored once after every choice was made on a 15% tuning "
                 "split of train",
        "dev_file_sha256": sha256_of(dev.path),
        "scoring": "top-1 label; accuracy = top label among the gold labels; per-class F1 over multi-label gold "
                   "indicators vs one-hot prediction; macro_f1 = mean over the 7 labels",
        "dev": scores(dev_probs, dev.targets),
        "dev_single_label_rows": scores(dev_probs[single], dev.targets[single]),
        "candidates_on_tune_split": tried,
        "chosen": best_name,
        "logit_offsets": {label: round(float(v), 2) for label, v in zip(LABELS, best_head.logit_offsets)},
        "valence": "not learned: valence/arousal = probability-weighted circumplex placements "
                   "(basics.labels.valence_arousal_from_probs)",
        "seed": SEED,
        "command": "python -m training.train_text_emotion" + (" " + " ".join(argv or sys.argv[1:])).rstrip(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": f"{platform.machine()} {platform.system()} {platform.release()}, {os.cpu_count()} CPU cores "
                   f"({platform.processor() or 'cpu'}), torch threads {args.threads}",
    }
    if not args.dry_run:
        best_head.save(HEAD_PATH)
        METRICS_PATH.write_text(json.dumps(metrics, indent=2) + "\n")
        print(f"saved {HEAD_PATH} ({HEAD_PATH.stat().st_size // 1024} KB) and {METRICS_PATH}")
    d = metrics["dev"]
    print(f"chosen {best_name}: dev macro-F1 {d['macro_f1']:.4f}, accuracy {d['accuracy']:.4f} (n={d['n']})")
    print("  per class: " + ", ".join(f"{k} {v:.3f}" for k, v in d["per_class_f1"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
