"""The semantic crisis detector with the real MiniLM encoder and the shipped weights."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest

from agent.crisis_detector import (
    CHUNK_STRIDE_WORDS,
    CHUNK_WORDS,
    WEIGHTS_PATH,
    CrisisDetector,
    chunks,
    load_model,
)

REPO = Path(__file__).resolve().parents[2]
# Messages written for these tests (not taken from any evaluation set).
BENIGN_OPENING = ("I started a new job in March and the commute is long. My team is friendly enough and the canteen "
                  "food is fine. At weekends I visit my parents and help my dad in the garden, and on Sundays we "
                  "watch football together. The weather has been grey for weeks and I miss the summer. ")
RISK_ENDING = ("But none of that matters now. I don't want to be alive anymore. Every night I sit with the pills I've "
               "saved and count them. I've written goodbye letters to my family and I think tonight is the night I "
               "take them all and end my life. I'm so tired and I just want to die.")


@pytest.fixture(scope="module")
def detector() -> CrisisDetector:
    return CrisisDetector()


def test_windows_cover_every_word_with_overlap():
    words = [f"w{i}" for i in range(300)]
    windows = chunks(" ".join(words))
    assert windows[0].split()[0] == "w0" and windows[-1].split()[-1] == "w299"
    assert all(len(w.split()) == CHUNK_WORDS for w in windows)
    covered = {word for w in windows for word in w.split()}
    assert covered == set(words)
    first, second = windows[0].split(), windows[1].split()
    assert first[CHUNK_STRIDE_WORDS:] == second[:CHUNK_WORDS - CHUNK_STRIDE_WORDS]  # the overlap
    assert chunks("just a few words") == ["just a few words"]
    assert chunks("") == [] and chunks("   \n ") == []


def test_risk_late_in_a_long_message_is_read(detector):
    """A paragraph of risk after 120 benign words: a detector that read only the first window would miss it. (One
    risky sentence at the end of a long message is diluted in its 64-word window: see the README.)"""
    opening = detector.score(BENIGN_OPENING * 2)
    whole = detector.score(BENIGN_OPENING * 2 + RISK_ENDING)
    assert len(chunks(BENIGN_OPENING * 2 + RISK_ENDING)) > 1
    assert opening.level == "none"
    assert whole.level != "none" and whole.probability > opening.probability + 0.3
    assert "pills" in whole.window  # the reason names the words that carried it


@pytest.mark.parametrize("text", [
    "I passed my driving test today!",
    "How do I change the battery in my smoke detector?",
    "The cake I baked for my mum's birthday came out lopsided but tasty.",
])
def test_ordinary_messages_are_none(detector, text):
    assert detector.score(text).level == "none"


def test_plain_risk_is_crisis(detector):
    assert detector.score("I can't do this anymore, I just want to die tonight").level == "crisis"


@pytest.mark.parametrize("text", [
    "honestly I think about killing myself every single day",  # the rules take this one to crisis anyway
    "I have decided to end it. I've written the notes and I know how.",
    "nobody would miss me, I'm going to make it stop for good",
])
def test_veiled_risk_is_at_least_concern(detector, text):
    assert detector.score(text).level in ("concern", "crisis")


def test_the_empty_message_scores_nothing(detector):
    assert detector.score("").level == "none" and detector.score("").probability == 0.0


def test_the_weights_are_small_plain_arrays_with_their_provenance_beside_them():
    assert WEIGHTS_PATH.stat().st_size < 20_000
    with np.load(WEIGHTS_PATH, allow_pickle=False) as stored:  # no pickle needed
        assert stored["coef"].shape == (384,)
    model = load_model()
    assert 0.0 < model.concern_threshold <= model.crisis_threshold < 1.0
    metrics = json.loads(WEIGHTS_PATH.with_name("crisis_detector_metrics.json").read_text())
    for key in ("command", "machine", "data", "crisis_threshold", "concern_threshold", "out_of_fold_by_pooling"):
        assert key in metrics, key
    assert metrics["crisis_threshold"] == pytest.approx(model.crisis_threshold)
    # the weights ship with the package: every package's .npz and .json files are package data
    shipped = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["*"]
    assert {"*.npz", "*.json"} <= set(shipped)


def test_a_broken_weights_file_is_one_line_naming_it(tmp_path):
    bad = tmp_path / "detector.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"detector.npz: not a crisis detector"):
        load_model(bad)
    np.savez(bad, coef=np.zeros(3))
    with pytest.raises(ValueError, match=r"detector.npz: not a crisis detector"):
        load_model(bad)
