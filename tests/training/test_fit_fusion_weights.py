"""The committed fusion weights load and are well-formed; the fitting math behaves on known predictions."""

from __future__ import annotations

import json

import numpy as np
import pytest

from basics.labels import LABEL_VALENCE_AROUSAL, LABELS
from fusion.fuse import WEIGHTS_FORMAT, WEIGHTS_PATH, load_weights, parse_weights
from fusion.state import MODALITIES
from training import fit_fusion_weights as fit_weights
from training.fit_fusion_weights import DevPredictions, entry_from_predictions, fit_temperature


def test_committed_weights_file_loads_and_is_well_formed():
    document = json.loads(WEIGHTS_PATH.read_text())
    assert document["format"] == WEIGHTS_FORMAT and document["labels"] == list(LABELS)
    assert document["command"].startswith("python -m training.fit_fusion_weights")
    weights = load_weights()
    assert weights.source == str(WEIGHTS_PATH)
    assert set(weights.modalities) == set(MODALITIES)
    for modality, entry in document["modalities"].items():
        reliability = weights.of(modality)
        assert set(reliability.per_class) == set(LABELS)
        assert all(0 < r <= 1 for r in reliability.per_class.values())
        assert 0 < reliability.valence <= 1 and 0 < reliability.arousal <= 1 and 0 < reliability.overall <= 1
        assert 0.2 <= reliability.temperature <= 5
        assert entry["status"] in ("fitted", "default")
        assert reliability.fitted == (entry["status"] == "fitted")
        if entry["status"] == "default":  # a missing model is said, with its reason, never silently equal
            assert entry["evidence"]["reason"]
        else:
            assert entry["evidence"]["source"] and entry["evidence"]["macro_f1"] > 1 / len(LABELS)


def predictions(rng: np.random.Generator, n: int, correct: float, sharpness: float) -> DevPredictions:
    """A fake modality that is right `correct` of the time and as sure as `sharpness` says."""
    gold = rng.integers(0, len(LABELS), n)
    predicted = np.where(rng.random(n) < correct, gold, rng.integers(0, len(LABELS), n))
    logits = rng.normal(0, 0.3, (n, len(LABELS)))
    logits[np.arange(n), predicted] += sharpness
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    va = probs @ np.array([LABEL_VALENCE_AROUSAL[label] for label in LABELS])
    return DevPredictions("face", np.eye(len(LABELS))[gold], probs, va[:, 0], va[:, 1], "synthetic", "synthetic")


def test_a_better_modality_gets_higher_reliability_and_an_overconfident_one_is_softened():
    rng = np.random.default_rng(0)
    good = entry_from_predictions(predictions(rng, 3000, correct=0.9, sharpness=3.0))
    poor = entry_from_predictions(predictions(rng, 3000, correct=0.4, sharpness=6.0))  # often wrong, always sure
    for label in LABELS:
        assert good["per_class_reliability"][label] > poor["per_class_reliability"][label]
    assert good["overall_reliability"] > 0.8 > 0.5 > poor["overall_reliability"]
    assert poor["temperature"] > 1.5  # its confidence is worth less than it claims
    assert poor["evidence"]["nll_calibrated"] < poor["evidence"]["nll_uncalibrated"]
    document = {"format": WEIGHTS_FORMAT, "modalities": {"face": good, "voice": poor}}
    parse_weights(json.loads(json.dumps(document)), "test")  # what it writes, fusion can read


def test_temperature_is_about_one_for_calibrated_predictions():
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(len(LABELS)) * 0.5, 4000)
    gold = np.array([rng.choice(len(LABELS), p=row) for row in probs])  # drawn from its own beliefs
    assert fit_temperature(np.eye(len(LABELS))[gold], probs) == pytest.approx(1.0, abs=0.1)


def test_a_modality_with_no_model_yet_gets_the_documented_default(tmp_path, monkeypatch):
    def not_trained():
        raise FileNotFoundError("perception/weights/face_combiner.json: no such file")

    monkeypatch.setattr(fit_weights, "METRICS_DIR", tmp_path)
    monkeypatch.setitem(fit_weights.PREDICTORS, "face", not_trained)
    entry = fit_weights.entry_for("face")
    assert entry["status"] == "default" and "face_combiner.json" in entry["evidence"]["reason"]
    assert set(entry["per_class_reliability"].values()) == {fit_weights.DEFAULT_RELIABILITY}
    # with only a metrics json, its per-class F1 is used
    (tmp_path / "face_metrics.json").write_text(json.dumps({"dev": {"per_class_f1": {"joy": 0.9, "fear": 0.2}}}))
    entry = fit_weights.entry_for("face")
    assert entry["status"] == "fitted"
    assert entry["per_class_reliability"]["joy"] == 0.9 and entry["per_class_reliability"]["fear"] == 0.2


def test_words_that_carry_no_emotion_leave_the_voice_its_say():
    from basics.labels import valence_arousal_from_probs
    from perception.cues import ProsodyCues, TextEmotion
    from training.fit_fusion_weights import PairedCues, fit_neutral_words_factor

    def cue(kind, label, p, confidence):
        probs = {other: (p if other == label else (1 - p) / 6) for other in LABELS}
        v, a = valence_arousal_from_probs(probs)
        if kind == "words":
            return TextEmotion("kids are talking by the door", probs, v, a, 0.0, 3.0, confidence, "test")
        return ProsodyCues(0.0, 3.0, confidence, {}, {}, probs, v, a)

    rng = np.random.default_rng(2)
    pairs = []
    for actor in ("a", "b", "c"):
        for _ in range(40):  # the voice mostly right and unsure; the words always neutral and sure
            gold = LABELS[rng.integers(len(LABELS))]
            heard = gold if rng.random() < 0.7 else LABELS[rng.integers(len(LABELS))]
            pairs.append(PairedCues(actor, gold, cue("words", "neutral", 0.6, 0.3), cue("voice", heard, 0.45, 0.25)))
    document = {"format": WEIGHTS_FORMAT, "modalities": {
        m: fit_weights.default_entry("test") for m in ("text", "voice")}}
    factor, report = fit_neutral_words_factor(pairs, document)
    # fusion lets neutral words abstain, so even undiscounted they cost the voice nothing here; the fitted factor
    # can only keep that (ties go to the smaller change)
    assert report["fused_factor_1"]["macro_f1"] >= report["voice_alone"]["macro_f1"] - 1e-9
    assert report["fused_factor_chosen_leave_one_actor_out"]["macro_f1"] >= report["fused_factor_1"]["macro_f1"]
    assert 0.0 < factor <= 1.0
    assert report["words_alone"]["accuracy"] < report["voice_alone"]["accuracy"]
    assert set(report["fused_factor_chosen_leave_one_actor_out"]["chosen_per_held_out_actor"]) == {"a", "b", "c"}


def test_committed_weights_describe_the_models_shipped_now():
    document = json.loads(WEIGHTS_PATH.read_text())
    for name, digest in document["models_sha256"].items():
        path = fit_weights.METRICS_DIR / name
        assert fit_weights.sha256_of(path)[:16] == digest, \
            f"{name} changed since the fusion weights were fitted: rerun `python -m training.fit_fusion_weights`"


def test_neutral_words_abstention_power_is_chosen_by_held_out_actors():
    from basics.labels import valence_arousal_from_probs
    from perception.cues import ProsodyCues, TextEmotion
    from training.fit_fusion_weights import NEUTRAL_ABSTENTION_POWERS, PairedCues, fit_neutral_abstention_power

    def probs_on(label, p):
        return {other: (p if other == label else (1 - p) / 6) for other in LABELS}

    rng = np.random.default_rng(3)
    pairs = []
    for actor in ("a", "b", "c", "d"):
        # words that lean to surprise but are almost as neutral (words whose top reading is neutral abstain
        # whatever the power, so only these show it); a right but unsure voice
        for _ in range(40):
            gold = LABELS[rng.integers(len(LABELS))]
            words = probs_on("surprise", 0.4)
            words["neutral"], words["joy"] = 0.36, words["joy"] - 0.06
            words["anger"] -= 0.04
            words = {k: v / sum(words.values()) for k, v in words.items()}
            voice = probs_on(gold if rng.random() < 0.7 else LABELS[rng.integers(len(LABELS))], 0.22)
            pairs.append(PairedCues(actor, gold,
                                    TextEmotion("kids are talking", words, *valence_arousal_from_probs(words),
                                                0.0, 3.0, 0.5, "test"),
                                    ProsodyCues(0.0, 3.0, 0.1, {}, {}, voice, *valence_arousal_from_probs(voice))))
    document = {"format": WEIGHTS_FORMAT, "modalities": {
        m: fit_weights.default_entry("test") for m in ("text", "voice")}}
    power, report = fit_neutral_abstention_power(pairs, document)
    assert power in NEUTRAL_ABSTENTION_POWERS and set(report["chosen_per_held_out_actor"]) == {"a", "b", "c", "d"}
    # here the words only ever get in the way: a sharper abstention must help, held out, and reach the voice
    assert power > 1.0
    assert report["fused_power_chosen_leave_one_actor_out_macro_f1"] > report["fused_power_1_macro_f1"]
    assert report["fused_power_chosen_leave_one_actor_out_macro_f1"] >= report["voice_alone_macro_f1"] - 0.02
    paired = report["fused_leave_one_actor_out_against_voice_alone"]
    assert paired["fused_only_correct"] + paired["voice_only_correct"] <= len(pairs)
    assert 0.0 <= paired["exact_mcnemar_p"] <= 1.0
    assert report["words_alone_macro_f1"] < report["voice_alone_macro_f1"]  # the words here are always neutral
    document["neutral_abstention_power"] = power
    assert parse_weights(document, "test").neutral_abstention_power == power
