"""The project's own samples, offered in one click by the Replay and Ablation tabs, and what an upload is.

- the sample session (samples/session_demo, made by samples/make_session.py);
- a small labelled manifest made from samples/: the five espeak-ng clips (labels and words from
  samples/transcripts.json, ASR hears the words as it would live) and the smiling face (joy);
- a session uploaded as a zip or as the files of a folder, put back together as a folder replay can read.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
SAMPLE_SESSION = SAMPLES / "session_demo"
SESSION_FILES = ("meta.json", "consent.jsonl", "events.jsonl", "audio.wav", "video.mp4")
MAX_ZIP_MB = 500  # unpacked: a ten-minute session with video is well under this
FACE_SAMPLES = {"face_joy.png": "joy"}


def write_sample_manifest(out_dir: Path) -> Path:
    """A JSON Lines manifest of the bundled clips and face, with absolute paths (it is written outside samples/)."""
    transcripts = json.loads((SAMPLES / "transcripts.json").read_text(encoding="utf-8"))
    lines = [{"id": f"samples/{name}", "audio": str(SAMPLES / name), "label": clip["emotion"]}
             for name, clip in sorted(transcripts.items()) if (SAMPLES / name).is_file()]
    lines += [{"id": f"samples/{name}", "image": str(SAMPLES / name), "label": label}
              for name, label in FACE_SAMPLES.items() if (SAMPLES / name).is_file()]
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = out_dir / "bundled_samples.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return manifest


def session_from_upload(paths: Sequence[str], out_dir: Path) -> Path:
    """What to replay from uploaded files: a zip of a session (unpacked into `out_dir`), the files of a session
    folder (gathered into `out_dir`), or one media file (itself). ValueError, one line, for anything else."""
    files = [Path(p) for p in paths if p]
    if not files:
        raise ValueError("nothing uploaded: choose a session folder, a zip of one, or a video or audio file")
    if len(files) == 1 and files[0].suffix.lower() == ".zip":
        return _unzip_session(files[0], out_dir)
    session_files = [f for f in files if f.name in SESSION_FILES]
    if session_files:
        out_dir.mkdir(parents=True, exist_ok=True)
        for file in session_files:  # Gradio keeps each uploaded file in a folder of its own: gather them
            (out_dir / file.name).symlink_to(file.resolve())
        return out_dir
    if len(files) == 1:
        return files[0]
    raise ValueError(f"{len(files)} files uploaded, none of them a session file ({', '.join(SESSION_FILES)}): "
                     "upload one video or audio file, or a session folder")


def _unzip_session(archive: Path, out_dir: Path) -> Path:
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = [m for m in zipped.infolist() if not m.is_dir()]
            if sum(m.file_size for m in members) > MAX_ZIP_MB * 1024 * 1024:
                raise ValueError(f"{archive.name}: over {MAX_ZIP_MB} MB unpacked; replay the folder instead")
            wanted = [m for m in members if Path(m.filename).name in SESSION_FILES]
            if not wanted:
                raise ValueError(f"{archive.name}: no session files in it ({', '.join(SESSION_FILES)})")
            out_dir.mkdir(parents=True, exist_ok=True)
            for member in wanted:  # by base name only: a path in the zip can never write outside out_dir
                (out_dir / Path(member.filename).name).write_bytes(zipped.read(member))
    except zipfile.BadZipFile:
        raise ValueError(f"{archive.name}: not a readable zip file") from None
    return out_dir


def plain_note(note: str) -> str:
    """A replay note said for a person: a session without sound or video is normal, not an error."""
    lowered = note.lower()
    if lowered.endswith("audio.wav: missing"):
        return ("This session has no sound (the microphone was off, or its audio was not stored), so the replay "
                "reads the face and any typed words.")
    if lowered.endswith("video.mp4: missing"):
        return ("This session has no video (the camera was off, or its video was not stored), so the replay reads "
                "the words and the voice.")
    if lowered.endswith("events.jsonl: missing"):
        return "This session has no recorded events, so there is nothing to compare the replay with."
    return note
