"""The face path with the real models on real faces (the public-domain astronaut photo and the project's video)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from basics.errors import MediaError
from basics.labels import LABELS, top_label
from perception.cues import FaceCues
from perception.face import FaceAnalyzer, perceive_visual, pool_timeline

pytestmark = pytest.mark.slow
SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    import skimage.data

    return skimage.data.astronaut()


@pytest.fixture(scope="module")
def analyzer():
    with FaceAnalyzer("image") as face_analyzer:
        yield face_analyzer


def test_astronaut_reads_as_joy_with_a_smile(analyzer, astronaut):
    cues = analyzer.analyze(astronaut)
    assert top_label(cues.probs) == "joy"
    assert cues.confidence > 0.3
    assert cues.faces_seen == 1
    assert abs(sum(cues.probs.values()) - 1.0) < 1e-6 and set(cues.probs) == set(LABELS)
    assert cues.valence > 0.3
    assert cues.action_units["smile"] > 0.5
    assert "smiling" in cues.explanation
    assert len(cues.blendshapes) == 52
    x, y, w, h = cues.face_box
    assert 150 < x + w / 2 < 300 and 50 < y + h / 2 < 250  # her face, upper middle of the photo


def test_sample_image_file_reads_as_joy(analyzer):
    cues = analyzer.analyze_image(SAMPLES / "face_joy.png")
    assert top_label(cues.probs) == "joy"


def test_a_frame_with_no_face_gives_confidence_zero_and_a_reason(analyzer):
    import skimage.data

    cues = analyzer.analyze(skimage.data.coffee())
    assert cues.confidence == 0.0
    assert cues.reason == "no face found"
    assert cues.faces_seen == 0 and cues.face_box is None


def test_two_faces_are_counted_and_the_larger_one_read(analyzer, astronaut):
    import cv2

    # Her head, and beside it the same head at 60%: mediapipe's short-range detector wants faces that fill a good
    # part of the frame (as at a webcam), so the photo is cropped to the head first.
    head = astronaut[20:300, 110:350]
    small = cv2.resize(head, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
    canvas = np.zeros((head.shape[0], head.shape[1] + small.shape[1], 3), dtype=np.uint8)
    canvas[:, : head.shape[1]] = head
    canvas[: small.shape[0], head.shape[1]:] = small
    cues = analyzer.analyze(canvas)
    assert cues.faces_seen == 2
    x, _, w, _ = cues.face_box
    assert x + w < head.shape[1] and w > 80  # the big face, on the left
    assert top_label(cues.probs) == "joy"


@pytest.mark.parametrize("variant", ["gray", "gray1", "rgba", "bgr", "float"])
def test_frame_formats_read_alike(analyzer, astronaut, variant):
    import cv2

    reference = analyzer.analyze(astronaut)
    if variant == "gray":
        cues = analyzer.analyze(cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY))
    elif variant == "gray1":
        cues = analyzer.analyze(cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)[:, :, None])
    elif variant == "rgba":
        cues = analyzer.analyze(np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)]))
    elif variant == "bgr":
        cues = analyzer.analyze(astronaut[:, :, ::-1], color="bgr")
    else:
        cues = analyzer.analyze(astronaut.astype(np.float32) / 255.0)
    assert top_label(cues.probs) == "joy"
    assert cues.face_box is not None
    if variant in ("rgba", "bgr", "float"):  # the same pixels must give the same reading
        assert cues.face_box == reference.face_box
        assert abs(cues.probs["joy"] - reference.probs["joy"]) < 0.02


def test_bgr_flag_matters(analyzer, astronaut):
    # Reading RGB pixels as BGR swaps red and blue; the face is still found (a sanity check that the flag is used).
    as_rgb = analyzer.analyze(astronaut)
    swapped = analyzer.analyze(astronaut, color="bgr")
    assert swapped.blendshapes != as_rgb.blendshapes


def test_video_sample_gives_a_smoothed_timeline_with_a_gap_without_face():
    with FaceAnalyzer("video") as video_analyzer:
        timeline = video_analyzer.analyze_video(SAMPLES / "face_video.mp4", fps=5.0)
    assert 18 <= len(timeline) <= 21  # 4 s at 5 fps
    times = [cue.t_start_s for cue in timeline]
    assert times == sorted(times) and times[0] == pytest.approx(0.0)
    assert all(cue.t_end_s == pytest.approx(cue.t_start_s + 0.2) for cue in timeline)
    with_face = [cue for cue in timeline if cue.confidence > 0]
    without = [cue for cue in timeline if cue.confidence == 0]
    assert len(with_face) >= 12 and all(top_label(c.probs) == "joy" for c in with_face)
    assert 3 <= len(without) <= 6 and all(1.4 <= c.t_start_s <= 2.6 for c in without)  # the coffee cup
    assert all(c.reason == "no face found" for c in without)


def test_a_second_video_on_the_same_analyzer_reads_the_same():
    with FaceAnalyzer("video") as video_analyzer:
        first = video_analyzer.analyze_video(SAMPLES / "face_video.mp4", fps=2.0)
        second = video_analyzer.analyze_video(SAMPLES / "face_video.mp4", fps=2.0)
    assert [c.t_start_s for c in first] == [c.t_start_s for c in second]
    assert [c.confidence > 0 for c in first] == [c.confidence > 0 for c in second]
    assert all(abs(a.probs["joy"] - b.probs["joy"]) < 0.05 for a, b in zip(first, second))


def test_perceive_visual_on_image_and_video_is_json_ready():
    image = perceive_visual(SAMPLES / "face_joy.png")
    assert image["kind"] == "image" and image["face"]["faces_seen"] == 1
    assert max(image["face"]["probs"], key=image["face"]["probs"].get) == "joy"
    json.dumps(image, allow_nan=False)
    video = perceive_visual(SAMPLES / "face_video.mp4", fps=2.0)
    assert video["kind"] == "video" and video["frames_analysed"] == 8
    assert video["summary"]["top"] == "joy"
    json.dumps(video, allow_nan=False)


def test_video_mode_smooths_a_sudden_change(astronaut):
    import math

    from perception.face import SMOOTHING_TIME_CONSTANT_S

    masked = astronaut.copy()
    masked[138:178, 180:271] = 128  # her smile hidden: the reading jumps away from joy
    with FaceAnalyzer("video", smoothing_time_constant_s=1e-9) as unsmoothed:
        raw = [unsmoothed.analyze(frame, t) for frame, t in ((astronaut, 0.0), (masked, 0.2))]
    with FaceAnalyzer("video") as smoothed_analyzer:
        smoothed = [smoothed_analyzer.analyze(frame, t) for frame, t in ((astronaut, 0.0), (masked, 0.2))]
    assert top_label(raw[0].probs) == "joy" and raw[1].probs["joy"] < 0.3
    keep = math.exp(-0.2 / SMOOTHING_TIME_CONSTANT_S)
    for label in LABELS:
        expected = keep * raw[0].probs[label] + (1 - keep) * raw[1].probs[label]
        assert smoothed[1].probs[label] == pytest.approx(expected, abs=1e-6)
    assert smoothed[1].probs["joy"] > raw[1].probs["joy"] + 0.2  # the jump is damped
    assert smoothed[1].blendshapes == raw[1].blendshapes  # the raw blendshapes are kept unsmoothed


def test_tiny_frame_gives_confidence_zero_and_says_why(analyzer):
    cues = analyzer.analyze(np.zeros((1, 1, 3), np.uint8))
    assert cues.confidence == 0.0 and "1x1 px" in cues.reason


def test_small_face_crop_is_upscaled_and_read(analyzer, astronaut):
    import cv2

    head = cv2.cvtColor(astronaut[60:190, 170:285], cv2.COLOR_RGB2GRAY)
    crop = cv2.resize(head, (48, 48), interpolation=cv2.INTER_AREA)  # FER2013-sized
    cues = analyzer.analyze(crop, is_face_crop=True)
    assert top_label(cues.probs) == "joy" and cues.blendshapes and cues.reason == ""
    x, y, w, h = cues.face_box
    assert 0 <= x and 0 <= y and x + w <= 50 and y + h <= 50  # in the crop's own pixels


def test_face_crop_without_landmarks_falls_back_to_the_cnn(analyzer):
    noise = np.random.default_rng(0).integers(0, 255, (48, 48), np.uint8)
    cues = analyzer.analyze(noise, is_face_crop=True)
    assert "CNN alone" in cues.reason and not cues.blendshapes
    assert 0 < cues.confidence <= 0.5


def test_analyze_video_needs_video_mode(analyzer):
    with pytest.raises(ValueError):
        analyzer.analyze_video(SAMPLES / "face_video.mp4")


def test_perceive_visual_names_a_file_that_is_not_media(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("a shopping list\n")
    with pytest.raises(MediaError, match="notes.txt: not an image or a video"):
        perceive_visual(path)


def test_perceive_visual_refuses_a_missing_file(tmp_path):
    with pytest.raises(MediaError, match="no such file"):
        perceive_visual(tmp_path / "nothing.png")


# Bad input through the whole path: one MediaError line, or a valid reading with confidence 0 and a reason.

def test_perceive_one_pixel_image(tmp_path):
    from PIL import Image

    path = tmp_path / "dot.png"
    Image.new("RGB", (1, 1), (200, 10, 10)).save(path)
    face = perceive_visual(path)["face"]
    assert face["confidence"] == 0.0 and "too small" in face["reason"]


def test_perceive_huge_image_is_downscaled_and_read(tmp_path, astronaut):
    import cv2
    from PIL import Image

    path = tmp_path / "huge.jpg"
    Image.fromarray(cv2.resize(astronaut, (8000, 8000), interpolation=cv2.INTER_LINEAR)).save(path, quality=80)
    face = perceive_visual(path)["face"]
    assert max(face["probs"], key=face["probs"].get) == "joy"
    assert face["face_box"][2] < 1280  # the box is in the downscaled frame


@pytest.mark.parametrize("name, content", [
    ("cut.jpg", None), ("noise.png", bytes(range(256)) * 8), ("notes.txt", b"just some words\n"),
    ("noise.mp4", bytes(range(256)) * 8), ("empty.webp", b""),
])
def test_perceive_bad_files_raise_one_line(tmp_path, name, content):
    path = tmp_path / name
    if content is None:  # a real JPEG cut in half
        whole = (SAMPLES / "face_joy.png").read_bytes()
        import io

        from PIL import Image

        buffer = io.BytesIO()
        Image.open(io.BytesIO(whole)).save(buffer, format="JPEG")
        content = buffer.getvalue()[: len(buffer.getvalue()) // 2]
    path.write_bytes(content)
    with pytest.raises(MediaError, match=name) as err:
        perceive_visual(path)
    assert "\n" not in str(err.value)


def test_perceive_truncated_video(tmp_path):
    cut = tmp_path / "cut.mp4"
    whole = (SAMPLES / "face_video.mp4").read_bytes()
    cut.write_bytes(whole[: len(whole) // 3])
    with pytest.raises(MediaError, match="cut.mp4"):
        perceive_visual(cut)


def timeline_frame(t_s: float, confidence: float, top: str = "joy") -> FaceCues:
    probs = {label: (0.9 if label == top else 0.1 / (len(LABELS) - 1)) for label in LABELS}
    return FaceCues(t_s, t_s + 0.2, confidence, probs, 0.5, 0.3, reason="" if confidence else "no face found")


def test_a_face_timeline_pools_to_the_mean_of_its_faces_discounted_by_the_frames_without_one():
    timeline = [timeline_frame(0.0, 0.8, "joy"), timeline_frame(0.2, 0.0), timeline_frame(0.4, 0.4, "sadness"),
                timeline_frame(0.6, 0.0)]
    pooled = pool_timeline(timeline)
    assert pooled.probs["joy"] == pytest.approx((0.9 + 0.1 / (len(LABELS) - 1)) / 2)
    assert pooled.probs["joy"] == pytest.approx(pooled.probs["sadness"])
    assert pooled.confidence == pytest.approx(0.6 * 2 / 4)  # mean confidence 0.6, a face in half the frames
    assert pooled.faces_seen == 2 and pooled.t_end_s == pytest.approx(0.8)


@pytest.mark.parametrize("timeline, reason",
                         [([timeline_frame(0.0, 0.0)], "no face found"), ([], "the video has no frames")])
def test_no_face_in_any_frame_pools_to_a_uniform_reading_at_confidence_zero(timeline, reason):
    pooled = pool_timeline(timeline)
    assert pooled.confidence == 0 and reason in pooled.reason
    assert list(pooled.probs.values()) == pytest.approx([1 / len(LABELS)] * len(LABELS))
