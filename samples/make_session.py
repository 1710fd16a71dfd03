"""Make the sample recorded session, samples/session_demo/, by recording a live session the way the app does.

    .venv/bin/python samples/make_session.py [OUT_PARENT]      # writes OUT_PARENT/session_demo/ (default samples/)

The person: espeak-ng saying SPEECH (three turns with pauses between them), and a face: scikit-image's astronaut
(public domain, smiling) with the coffee cup (no face) for a stretch. The smile with the sad words of the second
turn is a deliberate mismatch, so the timeline has incongruent moments to show. The media go through a real
LiveSession with every model loaded, its camera, microphone and store consent on (so the consent ledger has them),
and its `on_store` hook is ui/recorder.py's SessionRecorder: the folder is exactly what the app would record. The
session clock is the media clock, so the recording does not depend on the speed of the machine.

`empathic replay samples/session_demo --out /tmp/replay --diff` replays it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from basics.audio import SAMPLE_RATE_HZ

SAMPLES = Path(__file__).resolve().parent
REPO = SAMPLES.parent
SESSION_ID = "session_demo"
SPEECH = ("I am so happy today. I finally got the job I wanted.",
          "But my old dog died yesterday, and I miss him so much.",
          "Thank you for listening to me.")
PAUSE_S = 1.6  # between turns: longer than the session's end-of-speech silence
LEAD_IN_S = 0.8
TAIL_S = 1.5
FRAME_FPS = 5.0
FRAME_SIZE = (320, 240)
NO_FACE_FROM_S, NO_FACE_TO_S = 4.0, 5.5  # the camera looks at a coffee cup for a moment
CHUNK_S = 0.25  # the live app's microphone chunk


def speech_audio(parts: tuple[str, ...] = SPEECH) -> np.ndarray:
    """espeak-ng saying each part, with silence around and between them, as float32 mono at 16 kHz."""
    from perception.audio import load_audio

    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
    pieces = [np.zeros(int(LEAD_IN_S * SAMPLE_RATE_HZ), dtype=np.float32)]
    with tempfile.TemporaryDirectory() as tmp:
        for i, text in enumerate(parts):
            wav = Path(tmp) / f"part{i}.wav"
            subprocess.run([espeak, "-v", "en-us", "-s", "150", "-w", str(wav), text], check=True)
            pieces.append(load_audio(wav) * 0.8)
            pieces.append(np.zeros(int((PAUSE_S if i < len(parts) - 1 else TAIL_S) * SAMPLE_RATE_HZ),
                                   dtype=np.float32))
    return np.concatenate(pieces)


def face_frames(duration_s: float, fps: float = FRAME_FPS):
    """(t_s, RGB frame) at `fps`: the astronaut drifting a little, and the coffee cup while NO_FACE_FROM/TO_S."""
    import skimage.data
    from PIL import Image

    width, height = FRAME_SIZE
    face = Image.fromarray(skimage.data.astronaut()).resize((height, height))
    coffee = np.asarray(Image.fromarray(skimage.data.coffee()).resize(FRAME_SIZE))
    for index in range(int(duration_s * fps)):
        t_s = index / fps
        if NO_FACE_FROM_S <= t_s < NO_FACE_TO_S:
            yield t_s, coffee
            continue
        frame = Image.new("RGB", FRAME_SIZE, (60, 60, 60))
        frame.paste(face, ((width - height) // 2 + int(6 * np.sin(t_s)), 0))
        yield t_s, np.asarray(frame)


class _MediaClock:
    def __init__(self) -> None:
        self.t_s = 0.0

    def __call__(self) -> float:
        return self.t_s


def make_session(out_parent: Path = SAMPLES, session_id: str = SESSION_ID) -> Path:
    sys.path.insert(0, str(REPO))
    from ui.recorder import SessionRecorder, run_metadata, session_dir
    from ui.session import LiveSession, load_models

    folder = session_dir(out_parent, session_id)
    if folder.exists():
        shutil.rmtree(folder)
    audio = speech_audio()
    duration_s = len(audio) / SAMPLE_RATE_HZ
    models = load_models()
    missing = {p: t for p, t in models.status.items() if t.startswith("unavailable")}
    if missing:
        raise RuntimeError(f"the sample session needs every model: {missing}")
    clock = _MediaClock()
    recorder = SessionRecorder(out_parent, session_id=session_id,
                               meta=run_metadata(models, made_by="samples/make_session.py", speech=list(SPEECH)))
    session = LiveSession(models, clock=clock, on_store=recorder)
    session.set_consent("camera", True)
    session.set_consent("microphone", True)
    session.set_consent("store", True)
    frames = face_frames(duration_s)
    next_frame = next(frames, None)
    chunk = int(CHUNK_S * SAMPLE_RATE_HZ)
    for start in range(0, len(audio), chunk):
        end_s = min(len(audio), start + chunk) / SAMPLE_RATE_HZ
        while next_frame is not None and next_frame[0] < end_s:  # frames that arrived while this chunk was heard
            clock.t_s = next_frame[0]
            session.on_frame(next_frame[1], t_s=next_frame[0])
            next_frame = next(frames, None)
        clock.t_s = end_s
        session.on_audio_chunk(audio[start:start + chunk], SAMPLE_RATE_HZ, t_s=start / SAMPLE_RATE_HZ)
    session.end_audio()
    session.set_consent("store", False)  # closes the files; the ledger shows where storing ended
    session.close()
    models.close()
    print(f"{folder}: {sum(f.stat().st_size for f in folder.iterdir()) / 1024:.0f} kB, {duration_s:.1f} s, "
          f"{len(session.turns)} turns: {[t.text for t in session.turns]}")
    return folder


if __name__ == "__main__":
    make_session(Path(sys.argv[1]) if len(sys.argv) > 1 else SAMPLES)
