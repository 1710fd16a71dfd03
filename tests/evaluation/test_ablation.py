"""The ablation on the committed samples with the real models: one perception pass shared by the conditions, speech
to text standing in for missing text, fusion restricted to each condition's modalities, the cue cache, parallel
workers, and the statistics (checked against scikit-learn and by hand)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from basics.labels import LABELS
from evaluation.ablation import (
    CONDITIONS,
    cue_from_json,
    parse_conditions,
    perceive_sample,
    read_predictions,
    run_ablation,
)
from evaluation.ablation_stats import (
    ConditionData,
    _f1_from_confusions,
    _indices,
    ablation_metrics,
    confusions_for,
    distinct_n,
    holm,
    mcnemar_exact,
)
from evaluation.manifest import Sample

ALL = ",".join(CONDITIONS)


@pytest.fixture(scope="module")
def sample_manifest(tmp_path_factory, samples_dir):
    folder = tmp_path_factory.mktemp("manifest")
    rows = [
        {"id": "joy-speech", "audio": str(samples_dir / "speech_joy.wav"), "label": "joy"},
        {"id": "sad-speech", "audio": str(samples_dir / "speech_sadness.wav"), "label": "sadness"},
        {"id": "joy-face", "image": str(samples_dir / "face_joy.png"), "text": "We won the final!", "label": "joy"},
        {"id": "broken-audio", "audio": "broken.wav", "text": "I am so angry about this", "label": "anger"},
    ]
    (folder / "broken.wav").write_bytes(b"RIFF....WAVEnot really a wave file")
    path = folder / "m.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def first_run(sample_manifest, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    out = tmp_path_factory.mktemp("out")
    run = run_ablation(sample_manifest, ALL, out, progress=False, cache_root=cache)
    return run, cache, list(read_predictions(run.predictions_path))


@pytest.mark.slow
def test_every_sample_gets_every_condition_and_asr_stands_in_for_missing_text(first_run, samples_dir):
    run, _, rows = first_run
    assert run.samples == 4 and len(rows) == 4 * len(CONDITIONS)
    by = {(r["id"], r["condition"]): r for r in rows}
    said = json.loads((samples_dir / "transcripts.json").read_text())["speech_joy.wav"]["text"]
    heard = by[("joy-speech", "text")]
    assert heard["text_source"] == "asr" and "job" in heard["text"].lower() and "job" in said.lower()
    assert by[("joy-face", "text")]["text_source"] == "manifest"
    # the words of these clips say their emotion plainly: the text condition reads them
    assert heard["predicted"] == "joy" and by[("sad-speech", "text")]["predicted"] == "sadness"
    assert run.text_sources == {"asr": 2, "manifest": 2}


@pytest.mark.slow
def test_a_condition_uses_only_its_own_modalities(first_run):
    _, _, rows = first_run
    for row in rows:
        allowed = set(CONDITIONS[row["condition"]])
        assert set(row["modalities_used"]) <= allowed, row
        assert row["evidence"] == bool(row["modalities_used"])
    by = {(r["id"], r["condition"]): r for r in rows}
    # no face in an audio clip: the face condition has no evidence and falls back to neutral at confidence 0
    assert by[("joy-speech", "face")]["evidence"] is False and by[("joy-speech", "face")]["predicted"] == "neutral"
    assert by[("joy-speech", "face")]["confidence"] == 0
    assert set(by[("joy-speech", "text+audio")]["modalities_used"]) == {"text", "voice"}
    assert set(by[("joy-face", "all")]["modalities_used"]) == {"text", "face"}
    assert by[("joy-face", "face")]["predicted"] == "joy"


@pytest.mark.slow
def test_an_unreadable_file_costs_only_its_modality(first_run):
    run, _, rows = first_run
    by = {(r["id"], r["condition"]): r for r in rows}
    assert by[("broken-audio", "audio")]["evidence"] is False
    assert by[("broken-audio", "text+audio")]["modalities_used"] == ["text"]
    assert by[("broken-audio", "text")]["predicted"] == "anger"
    reasons = run.missing["voice"]
    assert any("broken.wav" in reason for reason in reasons), reasons


@pytest.mark.slow
def test_fused_predictions_are_fusion_on_the_cached_cues(first_run, sample_manifest):
    from fusion.fuse import fuse, view_from_cue

    _, cache, rows = first_run
    audio = Path(json.loads(sample_manifest.read_text().splitlines()[0])["audio"])
    sample = Sample(id="joy-speech", line=1, audio=audio, label="joy")
    perceived = perceive_sample(sample, frozenset({"text", "voice"}), cache)
    assert perceived.cache_hits >= 2  # transcript + text cue + voice cue all from the first run's cache
    views = [view_from_cue(cue_from_json(m, perceived.cues[m])) for m in ("text", "voice")]
    state = fuse(views, enabled=("text", "voice"))
    row = next(r for r in rows if r["id"] == "joy-speech" and r["condition"] == "text+audio")
    assert row["predicted"] == state.label
    assert all(math.isclose(row["probs"][k], state.probs[k], abs_tol=1e-4) for k in LABELS)


@pytest.mark.slow
def test_a_rerun_reads_the_cache_and_parallel_workers_agree(first_run, sample_manifest, tmp_path):
    run, cache, rows = first_run
    again = run_ablation(sample_manifest, ALL, tmp_path / "again", progress=False, cache_root=cache, jobs=2)
    assert again.cache_hits >= 6 and again.perception_s < max(2.0, run.perception_s / 3)
    rerun = list(read_predictions(again.predictions_path))
    assert [(r["id"], r["condition"], r["predicted"]) for r in rerun] == \
           [(r["id"], r["condition"], r["predicted"]) for r in rows]


def test_conditions_are_parsed_strictly():
    assert parse_conditions("text, audio,all") == ("text", "audio", "all")
    assert parse_conditions("voice,text+voice") == ("audio", "text+audio")
    with pytest.raises(ValueError, match="unknown condition 'smell'"):
        parse_conditions("text,smell")
    with pytest.raises(ValueError, match="no conditions"):
        parse_conditions(" , ")


def test_bootstrap_figures_agree_with_scikit_learn():
    from sklearn.metrics import accuracy_score, f1_score

    rng = np.random.default_rng(0)
    gold = list(rng.choice(["anger", "joy", "neutral", "sadness"], size=300))
    predicted = [g if rng.random() < 0.6 else str(rng.choice(LABELS)) for g in gold]
    classes = ["anger", "joy", "neutral", "sadness"]
    accuracy, macro, weighted = _f1_from_confusions(confusions_for(_indices(gold), _indices(predicted)),
                                                    np.array([LABELS.index(c) for c in classes]))
    assert math.isclose(accuracy[0], accuracy_score(gold, predicted))
    assert math.isclose(macro[0], f1_score(gold, predicted, labels=classes, average="macro"))
    assert math.isclose(weighted[0], f1_score(gold, predicted, labels=classes, average="weighted"))


def _data(gold, predicted):
    n = len(gold)
    return ConditionData(list(gold), list(predicted), [True] * n, [0.0] * n, [None] * n, [0.0] * n, [None] * n)


def test_metrics_intervals_and_paired_tests():
    rng = np.random.default_rng(1)
    gold = list(rng.choice(["anger", "joy", "sadness"], size=400))
    good = [g if rng.random() < 0.8 else "neutral" for g in gold]
    poor = [g if rng.random() < 0.4 else "neutral" for g in gold]
    result = ablation_metrics({"good": _data(gold, good), "poor": _data(gold, poor)}, seed=0, resamples=500)
    assert result["classes"] == ["anger", "joy", "sadness"]
    for name in ("good", "poor"):
        m = result["conditions"][name]
        low, high = m["ci95"]["macro_f1"]
        assert low <= m["macro_f1"] <= high and high - low < 0.15
        assert sum(map(sum, m["confusion_matrix"]["rows_gold_columns_predicted"])) == 400
    assert result["conditions"]["good"]["ci95"]["accuracy"][0] > result["conditions"]["poor"]["ci95"]["accuracy"][1]
    [pair] = result["pairs"]
    assert pair["a"] == "good" and pair["only_a_correct"] > pair["only_b_correct"] and pair["p_value"] < 1e-6
    same = ablation_metrics({"a": _data(gold, good), "b": _data(gold, good)}, resamples=0)
    assert same["pairs"][0]["p_value"] == 1.0 and "ci95" not in same["conditions"]["a"]


def test_mcnemar_holm_and_distinct_by_hand():
    # 10 discordant pairs all one way: two-sided exact p = 2 * 0.5**10
    result = mcnemar_exact([True] * 10 + [True] * 5, [False] * 10 + [True] * 5)
    assert result["only_a_correct"] == 10 and result["only_b_correct"] == 0
    assert math.isclose(result["p_value"], 2 * 0.5 ** 10, rel_tol=5e-3)  # 3 significant digits
    assert holm([0.01, 0.04, 0.03]) == [0.03, 0.06, 0.06]
    assert distinct_n(["a b a b"], 1) == 0.5 and distinct_n(["a b a b"], 2) == round(2 / 3, 4)
    assert distinct_n([], 2) == 0.0


def test_valence_arousal_error_where_labels_exist():
    data = ConditionData([], [], [True, False, True], [0.5, -0.5, 0.1], [1.0, None, 0.1], [0.0, 0.2, 0.4],
                         [None, None, 0.0])
    m = ablation_metrics({"audio": data})["conditions"]["audio"]
    assert m["valence_n"] == 2 and math.isclose(m["valence_mae"], 0.25)
    assert math.isclose(m["valence_mae_predicting_0"], 0.55)  # the baseline: mean |gold|
    assert m["arousal_n"] == 1 and math.isclose(m["arousal_mae"], 0.4)
    assert math.isclose(m["coverage"], 0.6667) and m["n"] == 0
    assert "macro_f1" not in m
