"""Images and frames in, including the bad ones: each gives one clear MediaError line or a valid empty reading."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from basics.errors import MediaError
from perception.images import MAX_SIDE_PX, load_image, to_rgb


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    import skimage.data

    return skimage.data.astronaut()


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp"])
def test_formats_load_as_rgb(tmp_path, astronaut, suffix):
    path = tmp_path / f"a{suffix}"
    Image.fromarray(astronaut).save(path)
    rgb = load_image(path)
    assert rgb.shape == astronaut.shape and rgb.dtype == np.uint8
    assert np.abs(rgb.astype(int) - astronaut).mean() < 6  # lossy formats stay close


def test_to_rgb_shapes_and_orders(astronaut):
    gray = astronaut.mean(axis=2).astype(np.uint8)
    assert to_rgb(gray).shape == astronaut.shape
    assert np.array_equal(to_rgb(astronaut[:, :, ::-1], color="bgr"), astronaut)
    rgba = np.dstack([astronaut, np.zeros(astronaut.shape[:2], np.uint8)])
    assert np.array_equal(to_rgb(rgba), astronaut)
    bgra = np.dstack([astronaut[:, :, ::-1], np.zeros(astronaut.shape[:2], np.uint8)])
    assert np.array_equal(to_rgb(bgra, color="bgr"), astronaut)
    assert np.array_equal(to_rgb(astronaut.astype(np.float64) / 255.0), astronaut)
    with pytest.raises(ValueError):
        to_rgb(astronaut, color="hsv")


@pytest.mark.parametrize("shape", [(0, 0, 3), (10, 10, 2), (5,), (2, 2, 2, 3)])
def test_to_rgb_refuses_non_images(shape):
    with pytest.raises(MediaError, match="not a gray, RGB or RGBA image"):
        to_rgb(np.zeros(shape, np.uint8))


def test_huge_image_is_downscaled(tmp_path):
    path = tmp_path / "huge.jpg"
    Image.new("RGB", (8000, 8000), (120, 90, 60)).save(path, quality=70)
    rgb = load_image(path)
    assert max(rgb.shape[:2]) <= MAX_SIDE_PX


def test_huge_png_is_downscaled(tmp_path):
    path = tmp_path / "huge.png"
    Image.new("L", (8000, 8000), 100).save(path)
    assert load_image(path).shape == (MAX_SIDE_PX, MAX_SIDE_PX, 3)


def test_truncated_image_is_one_line_error(tmp_path, astronaut):
    whole = tmp_path / "whole.png"
    Image.fromarray(astronaut).save(whole)
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(MediaError, match="cut.png: corrupt or truncated image") as err:
        load_image(cut)
    assert "\n" not in str(err.value)


def test_corrupt_jpeg_is_one_line_error(tmp_path):
    path = tmp_path / "bad.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00garbage" * 50)
    with pytest.raises(MediaError, match="bad.jpg") as err:
        load_image(path)
    assert "\n" not in str(err.value)


def test_text_file_is_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("not a picture\n")
    with pytest.raises(MediaError, match="notes.png: not an image"):
        load_image(path)


def test_missing_file(tmp_path):
    with pytest.raises(MediaError, match="no such file"):
        load_image(tmp_path / "gone.jpg")
