"""Make the face samples from public-domain images that ship in scikit-image (NASA's astronaut photo, a smile; and
the coffee cup, no face). Idempotent; run from the repo root:

    .venv/bin/python samples/make_face_samples.py               # samples/face_joy.png, samples/face_video.mp4
    .venv/bin/python samples/make_face_samples.py --y4m /tmp/face_video.y4m   # also a raw y4m for a fake camera

face_video.mp4: 640x480, 10 fps, 4 s: the astronaut drifting slowly (0-1.5 s), the coffee cup with no face
(1.5-2.5 s), the astronaut again (2.5-4 s). The y4m (raw frames, ~14 MB) is for chromium's
--use-file-for-fake-video-capture and is not kept in the repo.
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import numpy as np

SAMPLES = Path(__file__).resolve().parent
WIDTH_PX, HEIGHT_PX, FPS = 640, 480, 10
DURATION_S = 4.0
NO_FACE_FROM_S, NO_FACE_TO_S = 1.5, 2.5


def astronaut() -> np.ndarray:
    import skimage.data

    return skimage.data.astronaut()


def video_frames() -> list[np.ndarray]:
    import cv2
    import skimage.data

    face = cv2.resize(astronaut(), (400, 400), interpolation=cv2.INTER_AREA)
    coffee = cv2.resize(skimage.data.coffee(), (WIDTH_PX, HEIGHT_PX), interpolation=cv2.INTER_AREA)
    frames = []
    for index in range(int(DURATION_S * FPS)):
        t_s = index / FPS
        if NO_FACE_FROM_S <= t_s < NO_FACE_TO_S:
            frames.append(coffee.copy())
            continue
        canvas = np.full((HEIGHT_PX, WIDTH_PX, 3), 90, dtype=np.uint8)
        shift = int(round(60 * np.sin(2 * np.pi * t_s / DURATION_S)))  # a slow drift, so tracking is exercised
        x0 = (WIDTH_PX - 400) // 2 + shift
        canvas[40:440, x0:x0 + 400] = face
        frames.append(canvas)
    return frames


def write_video(path: Path, frames: list[np.ndarray], codec: str = "libx264", container_format: str | None = None,
                pix_fmt: str = "yuv420p") -> None:
    import av

    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH_PX, HEIGHT_PX, pix_fmt
        stream.time_base = Fraction(1, FPS)
        if codec == "libx264":
            stream.options = {"crf": "28", "preset": "medium"}
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def main(argv: list[str] | None = None) -> int:
    from PIL import Image

    parser = argparse.ArgumentParser(description="Make the face samples.")
    parser.add_argument("--y4m", type=Path, help="also write the video as raw y4m here (for a fake browser camera)")
    args = parser.parse_args(argv)
    Image.fromarray(astronaut()).save(SAMPLES / "face_joy.png", optimize=True)
    frames = video_frames()
    write_video(SAMPLES / "face_video.mp4", frames)
    print(f"wrote {SAMPLES / 'face_joy.png'} and {SAMPLES / 'face_video.mp4'}")
    if args.y4m:
        write_video(args.y4m, frames, codec="rawvideo", container_format="yuv4mpegpipe", pix_fmt="yuv420p")
        print(f"wrote {args.y4m}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
