"""The crisis detector's training and its honest cross-validation, on a seeded subset of the real Reddit posts."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from training import train_crisis_detector as training

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("EMPATHIC_DATA", REPO.parent / "shared" / "data")) / "crisis_reddit_train"
needs_data = pytest.mark.skipif(not (DATA / "train.csv").exists(),
                                reason=f"crisis_reddit_train not found at {DATA} (set EMPATHIC_DATA)")
SUBSET = 120


@pytest.fixture(scope="module")
def small():
    from sklearn.model_selection import train_test_split

    texts, labels = training.load_reddit()
    keep, _ = train_test_split(np.arange(len(labels)), train_size=SUBSET, stratify=labels,
                               random_state=training.SEED)
    keep = np.sort(keep)
    posts = training.embed_messages([texts[i] for i in keep], labels[keep])
    in_sample = training.embed_messages(*training.load_in_sample())
    return posts, in_sample


def test_thresholds_keep_the_target_recall():
    probs = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    labels = np.array([1, 1, 1, 1, 1, 1, 1, 1, 1, 0])
    rules = np.zeros(10, dtype=bool)
    crisis, concern = training.choose_thresholds(probs, labels, rules)
    # 8 of 9 at 0.3
    assert (probs >= concern)[labels == 1].mean() >= training.TARGET_RECALL and concern == pytest.approx(0.2)
    assert crisis == concern  # no in-sample message asks for more
    assert training.choose_thresholds(probs, labels, rules, guard=0.81) == (pytest.approx(0.81), pytest.approx(0.2))
    rules[7:9] = True  # what the rules catch already need not be caught again
    assert training.choose_thresholds(probs, labels, rules)[1] == pytest.approx(0.4)


@needs_data
def test_posts_are_read_and_the_split_by_explicit_words_is_real():
    texts, labels = training.load_reddit()
    assert len(texts) == 1516 and set(labels) == {0, 1}
    rules, explicit = training.rules_and_explicit(texts[:200])
    assert explicit.any() and not explicit.all() and rules.sum() <= len(rules)


@needs_data
@pytest.mark.slow
def test_no_post_is_scored_by_a_model_that_saw_it(small, monkeypatch):
    posts, in_sample = small
    seen_by_model: list[set[str]] = []
    real_train, real_probabilities = training.train, training.probabilities

    def spy_train(train_set, *args, **kwargs):
        seen_by_model.append(set(train_set.texts))
        return real_train(train_set, *args, **kwargs)

    def spy_probabilities(model, messages):
        assert not set(messages.texts) & seen_by_model[-1]  # the model just trained never saw these posts
        return real_probabilities(model, messages)

    monkeypatch.setattr(training, "train", spy_train)
    monkeypatch.setattr(training, "probabilities", spy_probabilities)
    figures = training.nested_cross_validation(posts, in_sample, c_value=1.0)
    assert len(figures["fold_thresholds_crisis_concern"]) == training.FOLDS
    assert 0.0 <= figures["depression_alarm_rate_without_explicit_words"] <= 1.0
    assert figures["suicidewatch_recall_crisis"] >= figures["rules_only_suicidewatch_recall"]
    assert figures["detector_auc"] > 0.55  # above chance even from ~100 posts a fold (0.74 on all 1,516)


def test_a_missing_table_is_one_line_naming_it(tmp_path):
    with pytest.raises(ValueError, match=r"train.csv: not the crisis_reddit_train table"):
        training.load_reddit(tmp_path)
