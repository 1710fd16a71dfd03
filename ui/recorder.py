"""A recorded session on disk, written only while the person allows "store", and deleted whole when they say so.

One folder per session under the data directory (`--data-dir`, else $EMPATHIC_DATA_DIR, else
~/.local/share/empathic/sessions):

    meta.json      versions, config, model names and file hashes; `t0_s`, the session time where the media start
    consent.jsonl  every consent change (the ledger so far when storing began, then each change as it happens)
    audio.wav      16 kHz mono 16-bit, sample 0 at session time t0_s (gaps while the microphone was off are silence)
    video.mp4      the camera at FRAME_FPS, fragmented MP4 (H.264), pts in ms from t0_s
    events.jsonl   every cue, state and reply the session produced, with its session time

Crash safety: a crash (or a pulled plug) loses at most about the last second and never corrupts what is there.
The logs are appended with single `write` calls to O_APPEND descriptors and fsynced once a second; the wav header's
lengths are rewritten once a second, so a reader sees whole samples up to the last rewrite; the MP4 is fragmented
(one fragment a second, each self-contained) so a cut file plays up to its last whole fragment; meta.json is
replaced atomically (write a temporary file, fsync, rename).

`SessionRecorder` is the `on_store` hook of ui/session.py's LiveSession: the session calls it with every event and
calls `begin`, `consent`, `audio`, `frame` and `end`, all only while "store" consent is on. Nothing is created on
disk before `begin`.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import struct
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from basics.audio import SAMPLE_RATE_HZ  # audio.wav is written at the rate the models read

DATA_DIR_ENV = "EMPATHIC_DATA_DIR"
DEFAULT_DATA_DIR = Path("~/.local/share/empathic/sessions")
FORMAT_VERSION = 1
FRAME_FPS = 5.0  # what face analysis reads in replay; more would only cost disk
VIDEO_MAX_SIDE_PX = 640
SYNC_EVERY_S = 1.0  # the most a crash may lose
MAX_GAP_FILL_S = 3600.0  # a gap in the audio (microphone off) is filled with silence up to this long
GAP_TOLERANCE_S = 0.1  # chunk times jitter by a few ms live; smaller gaps and overlaps are not gaps
SESSION_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,79}")
SESSION_FILES: tuple[str, ...] = ("meta.json", "consent.jsonl", "audio.wav", "video.mp4", "events.jsonl")


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The sessions' data directory: `explicit`, else $EMPATHIC_DATA_DIR, else ~/.local/share/empathic/sessions."""
    chosen = explicit or os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR
    return Path(chosen).expanduser()


def check_session_id(session_id: str) -> str:
    """A session id is letters, digits, '-' and '_' (no dots, no slashes): it can only name a folder directly inside
    the data directory. Raises ValueError otherwise."""
    if not isinstance(session_id, str) or not SESSION_ID_PATTERN.fullmatch(session_id):
        raise ValueError(f"not a session id: {session_id!r} (letters, digits, '-' and '_' only, at most 80)")
    return session_id


def session_dir(data_dir_path: str | os.PathLike, session_id: str) -> Path:
    """The folder of a session, checked to lie directly inside the data directory (a symlink pointing out is
    refused)."""
    root = Path(data_dir_path).expanduser().resolve()
    folder = root / check_session_id(session_id)
    if folder.is_symlink() or folder.resolve().parent != root:
        raise ValueError(f"session {session_id!r} does not lie inside {root}")
    return folder


def new_session_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


@dataclass(frozen=True)
class StoredSession:
    session_id: str
    path: Path
    created_utc: str
    duration_s: float | None
    size_bytes: int
    files: tuple[str, ...]
    problem: str = ""  # why meta.json could not be read, if it could not


def list_sessions(data_dir_path: str | os.PathLike) -> list[StoredSession]:
    """The sessions stored under the data directory, newest first. A folder with a broken meta.json is still
    listed (so it can be forgotten), with the problem said."""
    root = Path(data_dir_path).expanduser()
    if not root.is_dir():
        return []
    found = []
    for folder in root.iterdir():
        if not folder.is_dir() or folder.is_symlink() or not SESSION_ID_PATTERN.fullmatch(folder.name):
            continue
        files = tuple(name for name in SESSION_FILES if (folder / name).is_file())
        if not files:  # some other folder, not a session
            continue
        meta, problem = {}, ""
        try:
            meta = read_meta(folder)
        except ValueError as err:
            problem = str(err)
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        found.append(StoredSession(folder.name, folder, str(meta.get("created_utc", "")),
                                   meta.get("duration_s"), size, files, problem))
    return sorted(found, key=lambda s: (s.created_utc, s.session_id), reverse=True)


def forget_session(data_dir_path: str | os.PathLike, session_id: str) -> bool:
    """Delete a stored session completely; False when there was none by that id."""
    folder = session_dir(data_dir_path, session_id)
    if not folder.exists():
        return False
    shutil.rmtree(folder)
    _fsync_dir(folder.parent)
    return True


def read_meta(folder: str | os.PathLike) -> dict:
    """meta.json of a session folder; ValueError naming the file when it is missing or not a JSON object."""
    path = Path(folder) / "meta.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path}: missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(meta).__name__}")
    return meta


def run_metadata(models: Any = None, **config: Any) -> dict:
    """What a session was made with: app and Python versions, model files with their sha256, which parts loaded."""
    import platform
    from importlib import metadata

    from basics.assets import MODEL_FILES

    try:
        version = metadata.version("empathic-agent")
    except metadata.PackageNotFoundError:
        version = "unknown"
    meta = {"app": "empathic-agent", "app_version": version, "python": platform.python_version(),
            "model_files": {m.name: {"package": f"{m.package}=={m.version}", "file": m.member, "sha256": m.sha256}
                            for m in MODEL_FILES.values()},
            "config": config}
    if models is not None:
        meta["models"] = {part: text for part, text in getattr(models, "status", {}).items()}
        meta["backend"] = getattr(models, "backend_label", "")
    return meta


# --- writers ----------------------------------------------------------------------------------------------------

class AppendLog:
    """JSON lines appended with one write() each (a reader, or a crash, sees whole lines or none of the last)."""

    def __init__(self, path: Path, sync_every_s: float = SYNC_EVERY_S):
        self.path = path
        self.sync_every_s = sync_every_s
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._synced_at = time.monotonic()

    def write(self, record: dict) -> None:
        os.write(self._fd, (json.dumps(record, allow_nan=False, separators=(",", ":")) + "\n").encode())
        if self.sync_every_s <= 0 or time.monotonic() - self._synced_at >= self.sync_every_s:
            self.sync()

    def sync(self) -> None:
        os.fsync(self._fd)
        self._synced_at = time.monotonic()

    def close(self) -> None:
        if self._fd >= 0:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1


class WavAppender:
    """16-bit mono wav grown by appending; the header's lengths are rewritten once a second and at close."""

    HEADER_BYTES = 44

    def __init__(self, path: Path, sample_rate_hz: int = SAMPLE_RATE_HZ):
        self.path = path
        self.sample_rate_hz = sample_rate_hz
        self.frames = 0
        self._file = _private_file(path)
        self._file.write(self._header(0))
        self._file.flush()
        self._synced_at = time.monotonic()

    def _header(self, frames: int) -> bytes:
        rate = self.sample_rate_hz
        return (b"RIFF" + struct.pack("<I", 36 + 2 * frames) + b"WAVEfmt "
                + struct.pack("<IHHIIHH", 16, 1, 1, rate, 2 * rate, 2, 16) + b"data" + struct.pack("<I", 2 * frames))

    def append(self, samples: np.ndarray) -> None:
        pcm = (np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0) * 32767).astype("<i2")
        self._file.write(pcm.tobytes())
        self.frames += len(pcm)
        if time.monotonic() - self._synced_at >= SYNC_EVERY_S:
            self.sync()

    def append_silence(self, frames: int) -> None:
        block = np.zeros(min(frames, self.sample_rate_hz * 10), dtype="<i2").tobytes()
        while frames > 0:
            n = min(frames, len(block) // 2)
            self._file.write(block[: 2 * n])
            frames -= n
            self.frames += n

    def sync(self) -> None:
        # the samples first, then the lengths that make them visible: a crash between the two only hides samples
        self._file.flush()
        os.fsync(self._file.fileno())
        os.pwrite(self._file.fileno(), self._header(self.frames), 0)
        os.fsync(self._file.fileno())
        self._synced_at = time.monotonic()

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate_hz

    def close(self) -> None:
        if not self._file.closed:
            self.sync()
            self._file.close()


class VideoAppender:
    """Frames into a fragmented MP4 (H.264, one keyframe and one fragment a second), times in ms; the frame size is
    fixed by the first frame (later ones are scaled to it)."""

    def __init__(self, path: Path, fps: float = FRAME_FPS):
        self.path = path
        self.fps = fps
        self.frames = 0
        self._file = _private_file(path)
        self._container: Any = None  # av's OutputContainer and VideoStream, opened at the first frame
        self._stream: Any = None
        self._last_pts = -1
        self._synced_at = time.monotonic()

    def _open(self, width: int, height: int) -> None:
        import av

        scale = min(1.0, VIDEO_MAX_SIDE_PX / max(width, height))
        self._container = av.open(self._file, "w", format="mp4",
                                  options={"movflags": "frag_keyframe+empty_moov+default_base_moof"})
        gop = str(max(1, round(self.fps)))
        stream = self._container.add_stream("libx264", rate=max(1, round(self.fps)), options={
            "preset": "veryfast", "tune": "zerolatency", "crf": "30", "g": gop, "keyint_min": gop, "threads": "1"})
        stream.width = max(2, int(width * scale) // 2 * 2)
        stream.height = max(2, int(height * scale) // 2 * 2)
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, 1000)
        stream.codec_context.time_base = Fraction(1, 1000)
        self._stream = stream

    def append(self, rgb: np.ndarray, t_s: float) -> None:
        import av

        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        if rgb.ndim == 2:
            rgb = np.repeat(rgb[:, :, None], 3, axis=2)
        rgb = rgb[:, :, :3]
        if self._stream is None:
            self._open(rgb.shape[1], rgb.shape[0])
        pts = int(round(t_s * 1000))
        if pts <= self._last_pts:  # MP4 needs rising times
            return
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
            width=self._stream.width, height=self._stream.height, format="yuv420p")
        frame.pts = pts
        frame.time_base = Fraction(1, 1000)
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self._last_pts = pts
        self.frames += 1
        if time.monotonic() - self._synced_at >= SYNC_EVERY_S:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._synced_at = time.monotonic()

    def close(self) -> None:
        if self._container is not None:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
            self._container = None
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
        if self.frames == 0 and self.path.exists():  # the camera never sent a frame: no empty video
            self.path.unlink()


# --- the recorder -----------------------------------------------------------------------------------------------

class SessionRecorder:
    """LiveSession's `on_store` hook. Writes nothing until `begin`; `forget()` deletes the folder and stops."""

    def __init__(self, data_dir_path: str | os.PathLike | None = None, *, meta: dict | None = None,
                 session_id: str | None = None, frame_fps: float = FRAME_FPS):
        self.data_dir = data_dir(data_dir_path)
        self.meta = dict(meta or {})
        self.frame_fps = frame_fps
        self.session_id = check_session_id(session_id) if session_id else None
        self.path: Path | None = None
        self.t0_s: float | None = None
        self._consent: AppendLog | None = None
        self._events: AppendLog | None = None
        self._audio: WavAppender | None = None
        self._video: VideoAppender | None = None
        self._next_frame_t_s = -1e9
        self._lock = threading.RLock()

    @property
    def recording(self) -> bool:
        return self.path is not None and self._events is not None

    def begin(self, ledger: list[dict]) -> None:
        """Storing was turned on: make the folder (once per recording) and write the ledger so far."""
        with self._lock:
            if self.recording and self._consent is not None:
                for change in ledger[-1:]:  # on again after off: only the new change
                    self._consent.write(change)
                return
            if self.path is not None:  # stored, stopped, and now on again: that is a new recording
                self.session_id = None
            self.session_id = self.session_id or new_session_id()
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.path = session_dir(self.data_dir, self.session_id)
            self.path.mkdir(mode=0o700)
            self.t0_s = float(ledger[-1]["t_s"]) if ledger else 0.0
            self.meta.update(format=FORMAT_VERSION, session_id=self.session_id, t0_s=self.t0_s,
                             created_utc=datetime.now(UTC).isoformat(timespec="seconds"),
                             sample_rate_hz=SAMPLE_RATE_HZ, frame_fps=self.frame_fps)
            self._write_meta()
            self._consent = AppendLog(self.path / "consent.jsonl", sync_every_s=0)  # few lines, each one matters
            for change in ledger:
                self._consent.write(change)
            self._events = AppendLog(self.path / "events.jsonl")
            _fsync_dir(self.data_dir)

    def __call__(self, event: dict) -> None:
        with self._lock:
            if self._events is not None:
                self._events.write(event)

    def consent(self, change: dict) -> None:
        with self._lock:
            if self._consent is not None:
                self._consent.write(change)

    def audio(self, samples_16k: np.ndarray, t_s: float) -> None:
        with self._lock:
            if not self.recording or self.path is None or self.t0_s is None:
                return
            if self._audio is None:
                self._audio = WavAppender(self.path / "audio.wav")
            gap_s = (t_s - self.t0_s) - self._audio.duration_s
            if gap_s > GAP_TOLERANCE_S:  # the microphone was off: keep the timeline, silence in between
                self._audio.append_silence(int(min(gap_s, MAX_GAP_FILL_S) * SAMPLE_RATE_HZ))
            self._audio.append(samples_16k)

    def frame(self, rgb: np.ndarray, t_s: float) -> None:
        with self._lock:
            if not self.recording or self.path is None or self.t0_s is None or t_s < self._next_frame_t_s:
                return
            self._next_frame_t_s = max(self._next_frame_t_s + 1.0 / self.frame_fps, t_s + 0.5 / self.frame_fps)
            if self._video is None:
                self._video = VideoAppender(self.path / "video.mp4", self.frame_fps)
            self._video.append(rgb, t_s - self.t0_s)

    def end(self) -> None:
        """Storing was turned off: close the files (what is written stays until forgotten; `forget()` still
        deletes it). Turning storing on again starts a new session folder."""
        with self._lock:
            if not self.recording:
                return
            for writer in (self._audio, self._video, self._consent, self._events):
                if writer is not None:
                    writer.close()
            self.meta.update(ended_utc=datetime.now(UTC).isoformat(timespec="seconds"),
                             duration_s=round(self._audio.duration_s, 3) if self._audio else None,
                             video_frames=self._video.frames if self._video else 0)
            self._write_meta()
            self._audio = self._video = self._consent = self._events = None

    close = end

    def forget(self) -> bool:
        """Delete this session's folder completely; a later `begin` starts a new one. False when none was written."""
        with self._lock:
            path = self.path
            if path is None:
                return False
            for writer in (self._audio, self._video, self._consent, self._events):
                if writer is not None:
                    try:
                        writer.close()
                    except Exception:
                        pass  # it is being deleted anyway
            self._audio = self._video = self._consent = self._events = None
            self.path = None
            self.session_id = None
            self._next_frame_t_s = -1e9
            if path.exists():
                shutil.rmtree(path)
                _fsync_dir(path.parent)
            return True

    def _write_meta(self) -> None:
        assert self.path is not None, "meta.json is written only while a session folder exists"
        _write_atomically(self.path / "meta.json", json.dumps(self.meta, indent=1, allow_nan=False) + "\n")


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    with _private_file(partial) as handle:
        handle.write(text.encode("utf-8"))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)
    _fsync_dir(path.parent)


def _private_file(path: Path):
    """A new file only its owner can read: a session is a person's face, voice and words."""
    return open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
