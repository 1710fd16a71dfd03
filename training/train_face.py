"""Fit the face combiner on FER2013 PublicTest and report cross-validated accuracy.

    nice .venv/bin/python -m training.train_face            # features cached in /tmp, then fit + metrics
    .venv/bin/python -m training.train_face --folds 5 --no-write   # metrics only, nothing written
    .venv/bin/python -m training.train_face --runtime-check 400    # FaceAnalyzer agrees with the features?

Per image (48x48 gray, upscaled 4x and padded so the detector sees a whole face): the CNN on the image as given (how
the fer package would read a FER crop), mediapipe's 52 blendshapes, and the CNN on the landmark-aligned crop at a few
crop scales (the path a camera frame takes). Two small multinomial logistic regressions are fitted: blendshapes ->
7 labels; the combiner pools it with the CNN on the aligned crop, p ~ p_cnn * p_blend^w, one weight w chosen
by cross-validated accuracy (w = 0 is the CNN alone). Scored by stratified k-fold over PublicTest (out-of-fold
predictions only, the weight chosen by nested CV, never in-sample); images mediapipe cannot landmark
fall back to the CNN alone, as they do at run time. The final weights are then fitted on all landmarked images and
written to perception/weights/face_combiner.json, the table to perception/weights/face_metrics.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from basics.labels import LABELS

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("EMPATHIC_DATA", REPO.parent / "shared" / "data")) / "fer2013_publictest"
WEIGHTS = REPO / "perception" / "weights"
CACHE = Path(os.environ.get("EMPATHIC_FACE_CACHE", "/tmp/empathic_face_features_v2.npz"))
FER_TO_LABEL = {"angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "joy", "neutral": "neutral",
                "sad": "sadness", "surprise": "surprise"}
UPSCALE_PX = 192  # 48 -> 192: the landmarker's face detector wants a face well above 48 px
PAD_PX = 48  # a FER face fills its frame; a border lets the detector see the whole head (92% vs 90% found)
CROP_SCALES = (1.0, 1.1, 1.2, 1.3)
TTA = {"crop_1.1": ((1.1,), False), "crop_1.1_mirrored": ((1.1,), True),
       "crops_1.0-1.2": ((1.0, 1.1, 1.2), False), "crops_1.0-1.2_mirrored": ((1.0, 1.1, 1.2), True)}
LOG_FLOOR = 1e-4
BLEND_WEIGHTS = tuple(round(0.1 * k, 1) for k in range(16))  # 0 (the CNN alone) .. 1.5
SEED = 0


def _upscaled_rgb(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    big = cv2.resize(gray, (UPSCALE_PX, UPSCALE_PX), interpolation=cv2.INTER_CUBIC)
    big = cv2.copyMakeBorder(big, PAD_PX, PAD_PX, PAD_PX, PAD_PX, cv2.BORDER_REPLICATE)
    return big, cv2.cvtColor(big, cv2.COLOR_GRAY2RGB)


def _read_gray(path: Path) -> np.ndarray:
    import cv2

    gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if gray is None:
        raise SystemExit(f"train_face: {path} is not a readable image")
    return gray


def extract_features(limit: int | None = None) -> dict[str, np.ndarray]:
    """Features for every PublicTest image, cached in CACHE (the heavy part: ~15 ms an image)."""
    if CACHE.exists() and limit is None:
        with np.load(CACHE, allow_pickle=False) as cached:
            return {key: cached[key] for key in cached.files}

    from perception.face_landmarks import LandmarkReader
    from perception.fer_cnn import FerCnn, aligned_face_crop

    rows = list(csv.DictReader(open(DATA / "labels.csv", newline="")))
    if limit:  # an even sample across the classes (the file is sorted by label)
        rows = rows[:: max(1, len(rows) // limit)][:limit]
    cnn = FerCnn()
    names: list[str] = []
    y: list[int] = []
    cnn_raw: list[np.ndarray] = []
    found: list[bool] = []
    shapes: list[list[float] | None] = []
    aligned: list[np.ndarray] = []
    started = time.time()
    with LandmarkReader("image", max_faces=1) as reader:
        for i, row in enumerate(rows):
            gray = _read_gray(DATA / row["file"])
            y.append(LABELS.index(FER_TO_LABEL[row["label"]]))
            cnn_raw.append(cnn.predict(gray))
            big_gray, big_rgb = _upscaled_rgb(gray)
            face = reader.read(big_rgb)
            if face is None or not face.blendshapes:
                found.append(False)
                shapes.append(None)
                aligned.append(np.full((len(CROP_SCALES), 2, len(LABELS)), np.nan))
                continue
            if not names:
                names = list(face.blendshapes)
            found.append(True)
            shapes.append([face.blendshapes.get(n, 0.0) for n in names])
            crops = [aligned_face_crop(big_gray, face.points_px, scale) for scale in CROP_SCALES]
            aligned.append(np.stack([[cnn.predict(crop), cnn.predict(crop[:, ::-1])] for crop in crops]))
            if (i + 1) % 500 == 0:
                print(f"  {i + 1}/{len(rows)} images, {time.time() - started:.0f} s", file=sys.stderr)
    blank = [0.0] * len(names)
    features = {
        "y": np.array(y, dtype=np.int64),
        "cnn_raw": np.array(cnn_raw),
        "found": np.array(found),
        "blendshapes": np.array([s if s is not None else blank for s in shapes], dtype=np.float64),
        "cnn_aligned": np.array(aligned),
        "blendshape_names": np.array(names),
        "files": np.array([row["file"] for row in rows]),
    }
    if limit is None:
        np.savez_compressed(CACHE, **features)  # type: ignore[arg-type]  # numpy's stub types **kwds as bool
    return features


def _model():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=3000))


def _scores(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {"accuracy": round(float(accuracy_score(y, pred)), 4),
            "macro_f1": round(float(f1_score(y, pred, average="macro", labels=range(len(LABELS)))), 4),
            "n": int(len(y))}


def _out_of_fold_probs(x: np.ndarray, y: np.ndarray, folds: int) -> np.ndarray:
    from sklearn.model_selection import StratifiedKFold

    probs = np.zeros((len(y), len(LABELS)))
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=SEED).split(x, y):
        model = _model().fit(x[train], y[train])
        probs[np.ix_(test, model.classes_)] = model.predict_proba(x[test])
    return probs


def pool(cnn_probs: np.ndarray, blend_probs: np.ndarray, blend_weight: float) -> np.ndarray:
    """Log-linear pooling: p ~ p_cnn * p_blend^w (a product of experts with one weight), rows summing to 1."""
    logits = np.log(np.clip(cnn_probs, LOG_FLOOR, 1.0)) + blend_weight * np.log(np.clip(blend_probs, LOG_FLOOR, 1.0))
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    return probs / probs.sum(axis=1, keepdims=True)


def _choose_weight(cnn_probs: np.ndarray, blend_probs: np.ndarray, y: np.ndarray) -> float:
    # Accuracy first (the aim is to match or beat the CNN), macro-F1 to break ties; w = 0 is the CNN alone, so the
    # chosen pool never does worse than the CNN on the data it was chosen on.
    def score(w: float) -> tuple[float, float]:
        s = _scores(y, pool(cnn_probs, blend_probs, w).argmax(1))
        return s["accuracy"], s["macro_f1"]

    return max(BLEND_WEIGHTS, key=score)


def _nested_pool_predictions(cnn_probs: np.ndarray, shapes: np.ndarray, y: np.ndarray, folds: int
                             ) -> tuple[np.ndarray, list[float]]:
    """Out-of-fold pooled predictions, the weight chosen inside each outer training fold (nested, so honest)."""
    from sklearn.model_selection import StratifiedKFold

    pred = np.zeros(len(y), dtype=np.int64)
    weights = []
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=SEED + 1).split(shapes, y):
        inner_blend = _out_of_fold_probs(shapes[train], y[train], folds)
        weight = _choose_weight(cnn_probs[train], inner_blend, y[train])
        model = _model().fit(shapes[train], y[train])
        blend = np.zeros((len(test), len(LABELS)))
        blend[:, model.classes_] = model.predict_proba(shapes[test])
        pred[test] = pool(cnn_probs[test], blend, weight).argmax(1)
        weights.append(weight)
    return pred, weights


def _export(model, feature_names: list[str]) -> dict:
    scaler, logistic = model[0], model[1]
    coef = np.zeros((len(LABELS), len(feature_names)))
    intercept = np.full(len(LABELS), -30.0)  # a class never seen in training stays (practically) impossible
    coef[logistic.classes_] = logistic.coef_
    intercept[logistic.classes_] = logistic.intercept_
    return {"features": feature_names, "mean": scaler.mean_.round(6).tolist(), "scale": scaler.scale_.round(6).tolist(),
            "coef": coef.round(6).tolist(), "intercept": intercept.round(6).tolist()}


def tta_probs(cnn_aligned: np.ndarray, scales: tuple[float, ...], mirrored: bool) -> np.ndarray:
    """Mean CNN probabilities over the chosen crop scales (and their mirror images); cnn_aligned is (n, scale, 2, 7)."""
    picked = cnn_aligned[:, [CROP_SCALES.index(scale) for scale in scales]]
    return (picked if mirrored else picked[:, :, :1]).mean(axis=(1, 2))


def evaluate(features: dict[str, np.ndarray], folds: int) -> tuple[dict, str]:
    y, found = features["y"], features["found"]
    shapes = features["blendshapes"]
    table: dict = {"data": f"FER2013 PublicTest (de-duplicated), {len(y)} images; fitted parts scored by {folds}-fold "
                           f"stratified CV (out-of-fold only; the pool weight chosen by nested CV)",
                   "landmarked_images": int(found.sum()), "not_landmarked_images": int((~found).sum())}
    table["cnn_alone_all"] = _scores(y, features["cnn_raw"].argmax(1))
    table["cnn_alone_landmarked"] = _scores(y[found], features["cnn_raw"][found].argmax(1))
    # Which aligned crops the CNN averages (a 4-way choice of preprocessing, made on this data and reported).
    readings = {name: tta_probs(features["cnn_aligned"], scales, mirrored) for name, (scales, mirrored) in TTA.items()}
    for name, probs in readings.items():
        table[f"cnn_aligned_{name}_landmarked"] = _scores(y[found], probs[found].argmax(1))
    tta = max(TTA, key=lambda name: table[f"cnn_aligned_{name}_landmarked"]["accuracy"])
    aligned = readings[tta]
    table["cnn_aligned_chosen"] = tta

    blend_probs = _out_of_fold_probs(shapes[found], y[found], folds)
    table["blendshapes_alone_landmarked_cv"] = _scores(y[found], blend_probs.argmax(1))
    # Over all images a face with no landmarks has no blendshape reading: count it as the majority class.
    all_blend = np.full(len(y), LABELS.index("joy"))
    all_blend[found] = blend_probs.argmax(1)
    table["blendshapes_alone_all_cv_missing_as_joy"] = _scores(y, all_blend)

    # The run-time path: CNN on the aligned crop pooled with the blendshape model; no landmarks -> CNN on the frame.
    pooled, weights = _nested_pool_predictions(aligned[found], shapes[found], y[found], folds)
    table["combination_landmarked_cv"] = _scores(y[found], pooled)
    combined_all = features["cnn_raw"].argmax(1)
    combined_all[found] = pooled
    table["combination_all_cv_cnn_fallback"] = _scores(y, combined_all)
    table["combination_blend_weights_per_fold"] = weights
    # The same pool with the CNN read on the crop as given (FER images are already face crops).
    pooled_raw, weights_raw = _nested_pool_predictions(features["cnn_raw"][found], shapes[found], y[found], folds)
    combined_raw_all = features["cnn_raw"].argmax(1)
    combined_raw_all[found] = pooled_raw
    table["combination_cnn_on_given_crop_all_cv"] = _scores(y, combined_raw_all)
    table["combination_cnn_on_given_crop_weights_per_fold"] = weights_raw
    return table, tta


def fit_and_export(features: dict[str, np.ndarray], tta: str, folds: int) -> dict:
    y, found = features["y"], features["found"]
    shapes, names = features["blendshapes"][found], [str(n) for n in features["blendshape_names"]]
    scales, mirrored = TTA[tta]
    aligned = tta_probs(features["cnn_aligned"][found], scales, mirrored)
    weight = _choose_weight(aligned, _out_of_fold_probs(shapes, y[found], folds), y[found])
    blend_model = _model().fit(shapes, y[found])
    return {
        "labels": list(LABELS),
        "crop_scales": list(scales),
        "mirrored_crops": mirrored,
        "log_floor": LOG_FLOOR,
        "blend_weight": weight,
        "blendshape_model": _export(blend_model, names),
        "fitted_on": f"FER2013 PublicTest (de-duplicated), {int(found.sum())} landmarked images of {len(y)}; "
                     "blendshape_model: multinomial logistic regression (C=0.5) on standardised blendshapes; "
                     "combination: p ~ p_cnn * p_blendshapes^blend_weight, the weight chosen by CV accuracy",
    }


def runtime_agreement(features: dict[str, np.ndarray], sample: int) -> dict:
    """Does the run-time FaceAnalyzer (is_face_crop=True) give what this script's pooled features give, with the
    shipped weights? A plumbing check (the weights were fitted on these images: its accuracy is in-sample)."""

    from perception.face import FaceAnalyzer
    from perception.face_mapping import load_combiner

    combiner = load_combiner()
    y, found = features["y"], features["found"]
    expected = features["cnn_raw"].argmax(1)
    for i in np.flatnonzero(found):
        cnn = tta_probs(features["cnn_aligned"][i:i + 1], combiner.crop_scales, combiner.mirrored_crops)[0]
        blend = combiner.blendshape_probs(dict(zip(features["blendshape_names"], features["blendshapes"][i])))
        expected[i] = int(np.argmax(combiner.combine(cnn, blend)))
    picked = np.arange(len(y))[:: max(1, len(y) // sample)][:sample]
    got = []
    with FaceAnalyzer("image") as analyzer:
        for i in picked:
            gray = _read_gray(DATA / str(features["files"][i]))
            probs = analyzer.analyze(gray, is_face_crop=True).probs
            got.append(LABELS.index(max(probs, key=lambda label: probs[label])))
    predicted = np.array(got)
    return {"images": int(len(picked)),
            "agreement_with_script": round(float(np.mean(predicted == expected[picked])), 4),
            "runtime_accuracy_in_sample": round(float(np.mean(predicted == y[picked])), 4)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--limit", type=int, default=None, help="only N images spread over the classes (a quick check)")
    parser.add_argument("--no-write", action="store_true", help="print the table, write nothing")
    parser.add_argument("--runtime-check", type=int, default=0, metavar="N",
                        help="also run the run-time FaceAnalyzer on N images and report its agreement")
    args = parser.parse_args(argv)
    if not (DATA / "labels.csv").exists():
        print(f"train_face: no data at {DATA} (set EMPATHIC_DATA)", file=sys.stderr)
        return 2
    features = extract_features(args.limit)
    if args.runtime_check:
        print(json.dumps(runtime_agreement(features, args.runtime_check)))
        return 0
    table, tta = evaluate(features, args.folds)
    table["command"] = "nice .venv/bin/python -m training.train_face"
    table["machine"] = "2-core CPU box (shared)"
    print(json.dumps(table, indent=1))
    if not args.no_write and args.limit is None:
        WEIGHTS.mkdir(parents=True, exist_ok=True)
        (WEIGHTS / "face_combiner.json").write_text(json.dumps(fit_and_export(features, tta, args.folds)) + "\n")
        (WEIGHTS / "face_metrics.json").write_text(json.dumps(table, indent=1) + "\n")
        print(f"wrote {WEIGHTS / 'face_combiner.json'} and face_metrics.json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
