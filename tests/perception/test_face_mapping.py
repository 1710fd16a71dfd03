"""Blendshapes -> action units, words and (with the CNN) label probabilities, with the fitted combiner file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from basics.labels import LABELS
from perception.face_mapping import ACTION_UNITS, COMBINER_PATH, action_units, explain, load_combiner
from perception.fer_cnn import FER_OUTPUT_LABELS


def test_action_units_average_left_and_right():
    units = action_units({"browDownLeft": 0.8, "browDownRight": 0.4, "mouthPressLeft": 0.6, "mouthPressRight": 0.6})
    assert units["brow_lowerer"] == pytest.approx(0.6)
    assert units["lip_press"] == pytest.approx(0.6)
    assert units["smile"] == 0.0
    assert set(units) == set(ACTION_UNITS)


def test_explanation_names_the_strongest_units_in_order():
    units = action_units({"browDownLeft": 0.8, "browDownRight": 0.8, "mouthPressLeft": 0.5, "mouthPressRight": 0.5,
                          "jawOpen": 0.1})
    assert explain(units) == "brows lowered, lips pressed"
    assert explain(action_units({})) == "relaxed face"


def test_combiner_file_is_small_and_complete():
    assert COMBINER_PATH.stat().st_size < 100_000
    params = json.loads(COMBINER_PATH.read_text())
    assert params["labels"] == list(LABELS)
    combiner = load_combiner()
    assert len(combiner.blendshape_names) == 52 and combiner.coef.shape == (7, 52)
    assert 0.0 <= combiner.blend_weight <= 1.5 and combiner.crop_scales


def test_combiner_matches_the_training_pool():
    from training.train_face import pool

    rng = np.random.default_rng(0)
    combiner = load_combiner()
    for _ in range(5):
        cnn, blend = rng.dirichlet(np.ones(7)), rng.dirichlet(np.ones(7))
        assert np.allclose(combiner.combine(cnn, blend), pool(cnn[None], blend[None], combiner.blend_weight)[0])


def test_blendshape_model_reads_a_big_smile_as_joy():
    combiner = load_combiner()
    smile = {name: 0.0 for name in combiner.blendshape_names}
    frown = dict(smile, browDownLeft=0.7, browDownRight=0.7, mouthFrownLeft=0.6, mouthFrownRight=0.6)
    smile.update(mouthSmileLeft=0.95, mouthSmileRight=0.95)
    probs = combiner.blendshape_probs(smile)
    assert probs.sum() == pytest.approx(1.0)
    assert LABELS[int(np.argmax(probs))] == "joy"
    assert combiner.blendshape_probs(frown)[LABELS.index("joy")] < 0.2


def test_fer_output_order_covers_the_labels():
    # fer's order (angry, disgust, fear, happy, sad, surprise, neutral) in our names, each label once.
    assert sorted(FER_OUTPUT_LABELS) == sorted(LABELS)
    assert FER_OUTPUT_LABELS[3] == "joy" and FER_OUTPUT_LABELS[6] == "neutral"
