"""Images and frames into the one form the face path reads: RGB uint8, height x width x 3, no side over MAX_SIDE_PX.

A numpy frame says its channel order with `color`: "rgb" (the default: PIL, PyAV, gradio, mediapipe) or "bgr"
(OpenCV's cv2.imread / VideoCapture). Gray (H, W) or (H, W, 1) and 4-channel frames (RGBA, or BGRA with "bgr")
are accepted; float frames are read as 0-1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from basics.errors import MediaError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
# Faces are found at far lower resolution than this; a bigger frame only costs time and memory.
MAX_SIDE_PX = 1280


def to_rgb(frame: np.ndarray, color: str = "rgb") -> np.ndarray:
    """An RGB uint8 copy of a gray, RGB/BGR or RGBA/BGRA frame, downscaled to MAX_SIDE_PX. Raises MediaError."""
    if color not in ("rgb", "bgr"):
        raise ValueError(f"color must be 'rgb' or 'bgr', not {color!r}")
    array = np.asarray(frame)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)) or array.size == 0:
        raise MediaError(f"frame of shape {array.shape} is not a gray, RGB or RGBA image")
    if array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating):
            array = np.nan_to_num(array.astype(np.float32), nan=0.0)
            array = np.clip(array * (255.0 if array.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
        elif array.dtype == np.uint16:
            array = (array >> 8).astype(np.uint8)
        elif np.issubdtype(array.dtype, np.integer) or array.dtype == bool:
            array = np.clip(array.astype(np.int64) * (255 if array.dtype == bool else 1), 0, 255).astype(np.uint8)
        else:
            raise MediaError(f"frame of dtype {array.dtype} is not an image")
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    array = array[:, :, :3]  # alpha says nothing about the face
    if color == "bgr":
        array = array[:, :, ::-1]
    return downscale(np.ascontiguousarray(array))


def downscale(rgb: np.ndarray, max_side_px: int = MAX_SIDE_PX) -> np.ndarray:
    height, width = rgb.shape[:2]
    if max(height, width) <= max_side_px:
        return rgb
    import cv2

    factor = max_side_px / max(height, width)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def load_image(path: str | Path) -> np.ndarray:
    """An image file as RGB uint8 (EXIF rotation applied, downscaled while decoding where the format allows)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: no such file")
    try:
        with Image.open(path) as image:
            # JPEG can decode straight at 1/2, 1/4, 1/8 size: an 8000x8000 photo never sits whole in memory.
            image.draft("RGB", (MAX_SIDE_PX, MAX_SIDE_PX))
            image.thumbnail((MAX_SIDE_PX, MAX_SIDE_PX), reducing_gap=2.0)
            upright = ImageOps.exif_transpose(image)
            rgb = np.asarray(upright.convert("RGB"))
    except UnidentifiedImageError:
        raise MediaError(f"{path}: not an image (unknown or corrupt format)") from None
    except Image.DecompressionBombError as err:
        raise MediaError(f"{path}: image too large to decode safely ({err})") from None
    except (OSError, ValueError, SyntaxError) as err:  # truncated or corrupt data inside a known format
        raise MediaError(f"{path}: corrupt or truncated image ({str(err).splitlines()[0]})") from None
    return to_rgb(rgb)
