"""Face landmarks and the 52 blendshapes from mediapipe's FaceLandmarker, largest face first.

IMAGE mode treats every frame on its own (stills); VIDEO mode tracks the face between frames and needs strictly
increasing timestamps (streams and files), which makes it faster and steadier than detecting anew each frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from basics.assets import model_path
from basics.errors import ModelUnavailableError

MAX_FACES = 4  # enough to count a small group; the largest face is the one analysed


@dataclass(frozen=True)
class FaceLandmarks:
    """The largest face in a frame: 478 landmarks in pixels (x, y, z), its blendshapes, its box, how many faces."""

    points_px: np.ndarray  # (478, 3) float32; z is mediapipe's relative depth, scaled like x
    blendshapes: dict[str, float]
    box: tuple[int, int, int, int]  # x, y, width, height in pixels
    faces_seen: int


class LandmarkReader:
    """A FaceLandmarker in IMAGE or VIDEO mode. Use it as a context manager (mediapipe 1.2.3 prints a TypeError at
    interpreter exit for landmarkers that were never closed)."""

    def __init__(self, mode: str = "image", max_faces: int = MAX_FACES):
        if mode not in ("image", "video"):
            raise ValueError(f"mode must be 'image' or 'video', not {mode!r}")
        # Imported here: mediapipe takes about a second to import and only face work needs it.
        from mediapipe.tasks.python import BaseOptions, vision

        running_mode = vision.RunningMode.IMAGE if mode == "image" else vision.RunningMode.VIDEO
        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(model_path("face-landmarker"))),
            running_mode=running_mode,
            num_faces=max_faces,
            output_face_blendshapes=True,
        )
        try:
            self._landmarker = vision.FaceLandmarker.create_from_options(options)
        except Exception as err:  # mediapipe raises RuntimeError/ValueError with long messages
            raise ModelUnavailableError(f"face-landmarker: cannot load: {str(err).splitlines()[0]}") from err
        self.mode = mode
        self._last_timestamp_ms = -1
        self._stream_offset_ms = 0

    def __enter__(self) -> LandmarkReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._landmarker is not None:
            self._landmarker.close()
            self._landmarker = None

    def new_stream(self) -> None:
        """The next frames start a new stream at their own t = 0; mediapipe's clock must still run forward."""
        self._stream_offset_ms = self._last_timestamp_ms + 1

    def read(self, rgb: np.ndarray, t_s: float = 0.0) -> FaceLandmarks | None:
        """The largest face in an RGB uint8 frame, or None when there is no face."""
        import mediapipe as mp

        if self._landmarker is None:
            raise RuntimeError("LandmarkReader is closed")
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        if self.mode == "image":
            result = self._landmarker.detect(image)
        else:
            # VIDEO mode refuses a timestamp that does not increase; a caller's repeated or jittery clock must not
            # turn into an error, so nudge it forward by a millisecond.
            timestamp_ms = max(self._stream_offset_ms + int(round(t_s * 1000.0)), self._last_timestamp_ms + 1)
            self._last_timestamp_ms = timestamp_ms
            result = self._landmarker.detect_for_video(image, timestamp_ms)
        if not result.face_landmarks:
            return None
        height, width = rgb.shape[:2]
        faces = [np.array([(p.x * width, p.y * height, p.z * width) for p in face], dtype=np.float32)
                 for face in result.face_landmarks]
        areas = [float(np.ptp(f[:, 0]) * np.ptp(f[:, 1])) for f in faces]
        largest = int(np.argmax(areas))
        points = faces[largest]
        blendshapes = {}
        if result.face_blendshapes and len(result.face_blendshapes) > largest:
            blendshapes = {c.category_name: float(c.score) for c in result.face_blendshapes[largest]}
        x0, y0 = np.floor(points[:, :2].min(axis=0))
        x1, y1 = np.ceil(points[:, :2].max(axis=0))
        x0, y0 = max(0, int(x0)), max(0, int(y0))
        x1, y1 = min(width, int(x1)), min(height, int(y1))
        return FaceLandmarks(points, blendshapes, (x0, y0, max(0, x1 - x0), max(0, y1 - y0)), len(faces))
