"""From mediapipe blendshapes to action-unit-like features, plain words, and (with the CNN) 7-label probabilities.

The action units follow FACS names; each is the mean of the left/right blendshapes that move the same muscles.
The label mapping is fitted (training/train_face.py writes perception/weights/face_combiner.json): a logistic
regression from the 52 blendshapes to the 7 labels, pooled with the CNN as p ~ p_cnn * p_blend^w.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from basics.errors import ModelUnavailableError
from basics.labels import LABELS

COMBINER_PATH = Path(__file__).resolve().parent / "weights" / "face_combiner.json"

# action unit -> (blendshapes averaged, words for the explanation)
ACTION_UNITS: dict[str, tuple[tuple[str, ...], str]] = {
    "smile": (("mouthSmileLeft", "mouthSmileRight"), "smiling"),
    "cheek_raise": (("cheekSquintLeft", "cheekSquintRight"), "cheeks raised"),
    "brow_lowerer": (("browDownLeft", "browDownRight"), "brows lowered"),
    "inner_brow_raise": (("browInnerUp",), "inner brows raised"),
    "outer_brow_raise": (("browOuterUpLeft", "browOuterUpRight"), "outer brows raised"),
    "lip_corner_depressor": (("mouthFrownLeft", "mouthFrownRight"), "lip corners pulled down"),
    "jaw_drop": (("jawOpen",), "jaw dropped"),
    "eye_widen": (("eyeWideLeft", "eyeWideRight"), "eyes widened"),
    "eye_squint": (("eyeSquintLeft", "eyeSquintRight"), "eyes narrowed"),
    "eye_close": (("eyeBlinkLeft", "eyeBlinkRight"), "eyes closed"),
    "nose_wrinkle": (("noseSneerLeft", "noseSneerRight"), "nose wrinkled"),
    "upper_lip_raise": (("mouthUpperUpLeft", "mouthUpperUpRight"), "upper lip raised"),
    "lip_press": (("mouthPressLeft", "mouthPressRight"), "lips pressed"),
    "lip_stretch": (("mouthStretchLeft", "mouthStretchRight"), "lips stretched"),
    "lip_pucker": (("mouthPucker",), "lips puckered"),
}
EXPLAIN_THRESHOLD = 0.3  # an action unit weaker than this is not worth naming
EXPLAIN_MAX_ITEMS = 3


def action_units(blendshapes: dict[str, float]) -> dict[str, float]:
    return {name: float(np.mean([blendshapes.get(b, 0.0) for b in sources]))
            for name, (sources, _) in ACTION_UNITS.items()}


def explain(units: dict[str, float]) -> str:
    """The strongest few action units in plain words, e.g. "brows lowered, lips pressed"; "relaxed face" if none."""
    strong = sorted((value, name) for name, value in units.items() if value >= EXPLAIN_THRESHOLD)[::-1]
    if not strong:
        return "relaxed face"
    return ", ".join(ACTION_UNITS[name][1] for _, name in strong[:EXPLAIN_MAX_ITEMS])


@dataclass(frozen=True)
class Combiner:
    blendshape_names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (7, n_blendshapes), rows in LABELS order
    intercept: np.ndarray
    blend_weight: float
    log_floor: float
    crop_scales: tuple[float, ...]  # the aligned crops the CNN reads, averaged
    mirrored_crops: bool

    def blendshape_probs(self, blendshapes: dict[str, float]) -> np.ndarray:
        x = np.array([blendshapes.get(name, 0.0) for name in self.blendshape_names])
        logits = self.coef @ ((x - self.mean) / self.scale) + self.intercept
        return _softmax(logits)

    def combine(self, cnn_probs: np.ndarray, blend_probs: np.ndarray) -> np.ndarray:
        logits = (np.log(np.clip(cnn_probs, self.log_floor, 1.0))
                  + self.blend_weight * np.log(np.clip(blend_probs, self.log_floor, 1.0)))
        return _softmax(logits)


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max())
    return z / z.sum()


@lru_cache(maxsize=4)
def load_combiner(path: Path = COMBINER_PATH) -> Combiner:
    try:
        params = json.loads(Path(path).read_text())
        if tuple(params["labels"]) != LABELS:
            raise ValueError(f"labels {params['labels']} differ from {LABELS}")
        model = params["blendshape_model"]
        return Combiner(tuple(model["features"]), np.array(model["mean"]), np.array(model["scale"]),
                        np.array(model["coef"]), np.array(model["intercept"]), float(params["blend_weight"]),
                        float(params["log_floor"]), tuple(float(x) for x in params["crop_scales"]),
                        bool(params["mirrored_crops"]))
    except (OSError, ValueError, KeyError) as err:
        raise ModelUnavailableError(
            f"face combiner {path}: {err}; run `python -m training.train_face` to fit it") from err
