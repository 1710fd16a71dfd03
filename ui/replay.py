"""Replay: a recorded session folder, or any ordinary video or audio file, through the very same LiveSession the live
demo runs, fed from the file instead of the browser.

The media are streamed in media-time order as they would have arrived live: camera frames at REPLAY_FPS through
`on_frame`, audio in AUDIO_CHUNK_S chunks through `on_audio_chunk` (a chunk arrives when its last sample would have),
typed turns of a recorded session through `on_text` at their recorded times. The session's clock is the media
clock, and turns run inline, in order, so the timeline does not depend on the speed of the machine. Events are
written to OUT/events.jsonl as they happen (through the session's `on_store` hook), so memory stays bounded however
long the input: one audio window, one frame and the session's bounded buffers.

Deterministic: the responder decodes at temperature 0 with a fixed seed (its one retry is seeded too), and the only
wall-clock field of an event (a reply's `latency_s`) is left out of events.jsonl; summary.json keeps the timings.

Digital silence (a chunk of exact zeros: a gap in a recording, not a quiet room) ends any turn in progress and is
skipped rather than fed: nobody speaks there, and skipping it keeps a sparse 3-hour file to seconds of work.
"""

from __future__ import annotations

import heapq
import json
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import numpy as np

from basics.audio import SAMPLE_RATE_HZ
from basics.errors import MediaError
from fusion.modalities import NAMES
from ui.recorder import read_meta
from ui.timeline_file import diff_events, load_events

REPLAY_FPS = 5.0  # the live app's webcam rate
AUDIO_CHUNK_S = 1.0  # the live app sends 0.25 s; longer chunks mean fewer voice-activity passes over the buffer
MEDIA_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv", ".m4v", ".avi", ".wav", ".mp3", ".m4a", ".ogg", ".flac", ".opus")
MODALITIES = NAMES  # what --without may switch off
WALL_CLOCK_FIELDS = ("latency_s", "first_token_s")  # vary run to run; kept out of events.jsonl
SEED = 0


@dataclass(frozen=True)
class ReplaySource:
    """What will be replayed: the media files, where they sit on the session clock, and what a session recorded."""

    path: Path
    kind: str  # "session" or "file"
    audio_path: Path | None
    video_path: Path | None
    t0_s: float = 0.0  # session time of the media's start
    duration_s: float | None = None
    recorded_events: Path | None = None
    typed_turns: tuple[tuple[float, str], ...] = ()
    notes: tuple[str, ...] = ()  # what is missing or broken, in words


@dataclass(frozen=True)
class ReplayResult:
    out_dir: Path
    events_path: Path
    report_path: Path
    summary: dict = field(default_factory=dict)
    diff: dict | None = None


# --- the input --------------------------------------------------------------------------------------------------

def open_source(path: str | os.PathLike) -> ReplaySource:
    """Check what PATH is and what of it can be replayed. Raises MediaError (one line, naming the file) when
    nothing can; a session folder with some files missing or broken gives the rest, with notes saying what."""
    path = Path(path)
    if path.is_dir():
        return _open_session(path)
    if not path.exists():
        raise MediaError(f"{path}: no such file or folder")
    if path.suffix.lower() not in MEDIA_SUFFIXES:
        raise MediaError(f"{path}: unsupported file type {path.suffix or '(none)'}; "
                         f"replay takes a session folder or one of {', '.join(MEDIA_SUFFIXES)}")
    has_audio, has_video = _streams(path)
    notes = []
    if not has_audio and not has_video:
        raise MediaError(f"{path}: has neither an audio nor a video track")
    if not has_audio:
        notes.append(f"{path.name}: no audio track, so no words or voice: face only")
    if not has_video and path.suffix.lower() not in (".wav", ".mp3", ".m4a", ".ogg", ".flac", ".opus"):
        notes.append(f"{path.name}: no video track, so no face: words and voice only")
    return ReplaySource(path, "file", path if has_audio else None, path if has_video else None,
                        duration_s=_duration_s(path), notes=tuple(notes))


def _open_session(folder: Path) -> ReplaySource:
    notes: list[str] = []
    try:
        meta = read_meta(folder)
    except ValueError as err:
        meta = {}
        notes.append(f"{err}; replaying the media without it (session time starts at 0)")
    t0_s = _number(meta.get("t0_s"), 0.0)
    audio = video = None
    for name in ("audio.wav", "video.mp4"):
        file = folder / name
        if not file.exists():
            notes.append(f"{file}: missing")
            continue
        try:
            has_audio, has_video = _streams(file)
        except MediaError as err:
            notes.append(f"{err}; left out")
            continue
        if name == "audio.wav" and has_audio:
            audio = file
        elif name == "video.mp4" and has_video:
            video = file
        else:
            notes.append(f"{file}: no {'audio' if name == 'audio.wav' else 'video'} track; left out")
    events = folder / "events.jsonl"
    recorded, problems = load_events(events) if events.exists() else ([], [f"{events}: missing"])
    notes += problems
    typed = tuple((_number(e["t_s"], 0.0), str(e["text"])) for e in recorded
                  if e.get("kind") == "text" and e.get("source") == "text" and e.get("text"))
    if audio is None and video is None and not typed:
        raise MediaError(f"{folder}: nothing to replay (no readable audio.wav, video.mp4 or typed turns"
                         + (f"; {'; '.join(notes)}" if notes else "") + ")")
    durations = [d for d in (_duration_s(audio) if audio else None, _duration_s(video) if video else None) if d]
    return ReplaySource(folder, "session", audio, video, t0_s, max(durations) if durations else None,
                        events if events.exists() else None, typed, tuple(notes))


def _streams(path: Path) -> tuple[bool, bool]:
    """(has a decodable audio track, has a decodable video track). MediaError when the file is not media, or when
    its only tracks use a codec this build of FFmpeg cannot decode."""
    import av

    from perception.perceive import media_streams

    has_audio, has_video = media_streams(path)
    undecodable = []
    with av.open(str(path)) as container:
        for kind in ("audio", "video"):
            streams = [s for s in container.streams if s.type == kind]
            if streams and all(s.codec_context is None for s in streams):
                undecodable.append(kind)
    if "audio" in undecodable:
        has_audio = False
    if "video" in undecodable:
        has_video = False
    if undecodable and not (has_audio or has_video):
        raise MediaError(f"{path}: its {' and '.join(undecodable)} track uses a codec this build cannot decode")
    return has_audio, has_video


def _duration_s(path: Path | None) -> float | None:
    import av

    try:
        with av.open(str(path)) as container:
            if container.duration is not None:
                return container.duration / av.time_base
            streams = [s for s in container.streams if s.duration is not None and s.time_base is not None]
            return max((float(cast(int, s.duration) * cast(Fraction, s.time_base)) for s in streams), default=None)
    except Exception:
        return None


def _number(value: Any, default: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if np.isfinite(number) else default


# --- feeding the session ----------------------------------------------------------------------------------------

def media_items(source: ReplaySource, *, face: bool = True, audio: bool = True,
                problems: list[str] | None = None) -> Iterator[tuple[float, int, str, Any]]:
    """(arrival time on the session clock, order, kind, payload) in arrival order: "frame" (RGB), "audio" (16 kHz
    float32 samples, payload (t_start_s, samples)), "text" (a typed turn). A stream that breaks part way stops
    there with a line in `problems`; the others go on."""
    problems = problems if problems is not None else []
    streams = []
    if face and source.video_path is not None:
        streams.append(_frames(source, problems))
    if audio and source.audio_path is not None:
        streams.append(_audio_chunks(source, problems))
    if source.typed_turns:
        streams.append(((t_s, 2, "text", text) for t_s, text in source.typed_turns))
    return heapq.merge(*streams, key=lambda item: (item[0], item[1]))


def _frames(source: ReplaySource, problems: list[str]) -> Iterator[tuple[float, int, str, Any]]:
    from perception.video import sample_frames

    assert source.video_path is not None, "_frames runs only when there is video"
    try:
        for t_s, rgb in sample_frames(source.video_path, fps=REPLAY_FPS):
            yield source.t0_s + t_s, 0, "frame", rgb
    except Exception as err:  # noqa: BLE001 (a broken stream ends that stream, not the replay)
        problems.append(f"video: {_one_line(err)}")


def _audio_chunks(source: ReplaySource, problems: list[str]) -> Iterator[tuple[float, int, str, Any]]:
    from perception.audio import iter_audio_windows

    assert source.audio_path is not None, "_audio_chunks runs only when there is audio"
    last_end_s = 0.0
    try:
        for window in iter_audio_windows(source.audio_path, window_s=AUDIO_CHUNK_S):
            last_end_s = window.t_end_s
            # live, a chunk arrives when its last sample has been heard
            yield source.t0_s + window.t_end_s, 1, "audio", (source.t0_s + window.t_start_s, window.samples)
    except Exception as err:  # noqa: BLE001 (a broken stream ends that stream, not the replay)
        problems.append(f"audio breaks after {last_end_s:.1f} s: {_one_line(err)}; kept what came before")


class _EventsFile:
    """The session's `on_store` hook in replay: events only (no media: the input is already on disk), written as they
    happen, without the wall-clock fields."""

    def __init__(self, path: Path):
        self.path = path
        self.count = 0
        self.timings: list[dict] = []
        self._handle = open(path, "w", encoding="utf-8")

    def __call__(self, event: dict) -> None:
        if event.get("kind") == "reply":
            self.timings.append({k: event.get(k) for k in ("t_s",) + WALL_CLOCK_FIELDS if k in event})
        kept = {k: v for k, v in event.items() if k not in WALL_CLOCK_FIELDS}
        self._handle.write(json.dumps(kept, allow_nan=False, separators=(",", ":"), sort_keys=True) + "\n")
        self.count += 1

    def close(self) -> None:
        self._handle.close()


class _AblatedTracker:
    """The session's fusion tracker with some modalities off for the whole replay: consent turning a modality on
    does not bring it back."""

    def __init__(self, tracker: Any, off: frozenset[str]):
        self._tracker = tracker
        self._off = off
        for modality in off:
            tracker.set_enabled(modality, False)

    def set_enabled(self, modality: str, on: bool) -> None:
        self._tracker.set_enabled(modality, on and modality not in self._off)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tracker, name)


class _MediaClock:
    """The session's clock in replay: media time, moved forward by the feeder."""

    def __init__(self) -> None:
        self.t_s = 0.0

    def __call__(self) -> float:
        return self.t_s


def check_without(without: str | tuple[str, ...] | list[str] | frozenset[str] | None) -> frozenset[str]:
    if not without:
        return frozenset()
    names = [w.strip() for w in (without.split(",") if isinstance(without, str) else without) if w.strip()]
    unknown = [n for n in names if n not in MODALITIES]
    if unknown:
        raise ValueError(f"--without takes {', '.join(MODALITIES)}; unknown: {', '.join(unknown)}")
    return frozenset(names)


def replay(path: str | os.PathLike, out_dir: str | os.PathLike, models: Any, *,
           without: str | tuple[str, ...] | list[str] | frozenset[str] | None = None, diff: bool = False,
           progress: bool = True,
           report: bool = True, config: dict | None = None,
           on_progress: Callable[[float, float | None], None] | None = None) -> ReplayResult:
    """Replay PATH (a session folder or a media file) through LiveSession with `models`; write OUT/events.jsonl,
    OUT/summary.json, OUT/report.html (+ timeline.png) and, with `diff`, OUT/diff.json against the recorded events."""
    from tqdm import tqdm

    from ui.session import LiveSession

    off = check_without(without)
    source = open_source(path)
    if diff and source.recorded_events is None:
        raise ValueError(f"{path}: --diff needs a session folder with its recorded events.jsonl")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    random.seed(SEED)
    np.random.seed(SEED)

    if "voice" in off:  # not computed at all, not just left out of fusion
        models = replace(models, extract_prosody=None, new_speaker_baseline=None)
    if off and models.new_tracker is not None:
        make_tracker = models.new_tracker
        models = replace(models, new_tracker=lambda: _AblatedTracker(make_tracker(), off))
    clock = _MediaClock()
    writer = _EventsFile(out / "events.jsonl")
    session = LiveSession(models, background_turns=False, drop_frames_while_busy=False, clock=clock,
                          on_store=writer)
    problems: list[str] = list(source.notes)
    hear = not {"text", "voice"} <= off  # the words need the microphone even when only the voice is off
    started = time.perf_counter()
    media_s = 0.0
    try:
        session.set_consent("store", True)  # replay's store is events.jsonl in OUT, nothing else
        session.set_consent("camera", "face" not in off)
        session.set_consent("microphone", hear)
        bar = tqdm(total=round(source.duration_s, 1) if source.duration_s else None, unit="s", desc="replay",
                   disable=not progress, leave=False, dynamic_ncols=True,
                   bar_format="{l_bar}{bar}| {n:.0f}/{total_fmt} s media [{elapsed}<{remaining}]")
        in_silence = False
        with bar:
            for t_s, _, kind, payload in media_items(source, face="face" not in off, audio=hear, problems=problems):
                clock.t_s = max(clock.t_s, t_s)
                if kind == "frame":
                    session.on_frame(payload, t_s=t_s)
                elif kind == "audio":
                    chunk_t_s, samples = payload
                    if not np.any(samples):  # digital silence: the turn before it is over; nothing to hear
                        if not in_silence:
                            session.end_audio(inline=True)
                        in_silence = True
                    else:
                        in_silence = False
                        session.on_audio_chunk(samples, SAMPLE_RATE_HZ, t_s=chunk_t_s, inline=True)
                elif kind == "text":
                    session.on_text(payload)
                advanced = clock.t_s - source.t0_s - media_s
                if advanced >= 0.5 or kind == "text":
                    media_s += advanced
                    bar.update(advanced)
                    if on_progress is not None:
                        on_progress(media_s, source.duration_s)
            session.end_audio(inline=True)
    finally:
        session.close()
        writer.close()
    wall_s = time.perf_counter() - started
    media_total_s = source.duration_s or media_s
    switched_off = ("prosody unavailable",) if "voice" in off else ()  # asked for, not a problem
    problems += [p for p in session.problems if p not in problems and p not in switched_off]
    summary = {
        "source": str(source.path), "source_kind": source.kind, "audio": str(source.audio_path or ""),
        "video": str(source.video_path or ""), "without": sorted(off), "config": dict(config or {}),
        "media_s": round(media_total_s, 3), "wall_s": round(wall_s, 3),
        "x_real_time": round(media_total_s / wall_s, 3) if wall_s > 0 else None,
        "events": writer.count, "turns": len(session.turns), "counters": dict(session.counters),
        "reply_timings": writer.timings, "problems": problems,
    }
    _write_json(out / "summary.json", summary)
    diff_result = None
    events_path = out / "events.jsonl"
    if diff:
        assert source.recorded_events is not None, "checked when the replay started"
        recorded, _ = load_events(source.recorded_events)
        replayed, _ = load_events(events_path)
        diff_result = diff_events(recorded, replayed)
        _write_json(out / "diff.json", diff_result)
    report_path = out / "report.html"
    if report:
        from ui.report import write_report  # report.py never imports replay.py

        report_path = write_report(events_path, out, title=f"Replay of {source.path.name}", summary=summary,
                                   diff=diff_result)
    return ReplayResult(out, events_path, report_path, summary, diff_result)


def _one_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _write_json(path: Path, document: dict) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(document, indent=1, allow_nan=False, default=str) + "\n")
    os.replace(partial, path)
