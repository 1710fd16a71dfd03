"""Media for Chromium's fake camera and microphone (the browser test and the demo benchmark).

    python samples/make_browser_samples.py [OUT_DIR]     # writes browser_face.y4m and browser_speech.wav

The face is skimage.data.astronaut() (public domain, a smile), padded to 640x480 as a webcam frame; the speech is
espeak-ng saying SPEECH_TEXT with silence before and after (Chromium loops the file, so the silence is what lets the
demo's voice activity end the turn). Both are made on demand, not committed: a y4m is raw video (~460 kB a frame).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SPEECH_TEXT = "I am so happy today. I finally got the job I wanted."
FRAME_SIZE = (640, 480)
VIDEO_FPS = 10
VIDEO_SECONDS = 1.0  # Chromium loops the file; one second of a still face is enough
AUDIO_RATE_HZ = 48000  # what browsers capture at
SILENCE_BEFORE_S = 0.5
SILENCE_AFTER_S = 3.0


def _need(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise RuntimeError(f"{program} is not installed (apt-get install {program})")
    return path


def make_face_png(out: Path) -> Path:
    from PIL import Image
    from skimage import data

    face = Image.fromarray(data.astronaut())  # 512x512
    face = face.resize((FRAME_SIZE[1], FRAME_SIZE[1]))
    frame = Image.new("RGB", FRAME_SIZE, (40, 40, 40))
    frame.paste(face, ((FRAME_SIZE[0] - FRAME_SIZE[1]) // 2, 0))
    frame.save(out)
    return out


def make_face_y4m(out: Path, seconds: float = VIDEO_SECONDS, fps: int = VIDEO_FPS) -> Path:
    out = Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        png = make_face_png(Path(tmp) / "face.png")
        subprocess.run([_need("ffmpeg"), "-loglevel", "error", "-y", "-loop", "1", "-i", str(png), "-t", str(seconds),
                        "-r", str(fps), "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", str(out)], check=True)
    return out


def make_speech_wav(out: Path, text: str = SPEECH_TEXT, silence_after_s: float = SILENCE_AFTER_S) -> Path:
    """The speech, padded with silence; Chromium loops the file, so `silence_after_s` is the pause before the
    person speaks again."""
    out = Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "speech.wav"
        subprocess.run([_need("espeak-ng"), "-v", "en-us", "-s", "160", "-w", str(raw), text], check=True)
        subprocess.run([_need("sox"), str(raw), "-r", str(AUDIO_RATE_HZ), "-c", "1", "-b", "16", str(out),
                        "pad", str(SILENCE_BEFORE_S), str(silence_after_s)], check=True)
    return out


def main(argv: list[str]) -> int:
    out_dir = Path(argv[0]) if argv else Path(__file__).parent
    out_dir.mkdir(parents=True, exist_ok=True)
    print(make_face_y4m(out_dir / "browser_face.y4m"))
    print(make_speech_wav(out_dir / "browser_speech.wav"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
