"""Replay of many inputs at once: several paths, or a folder of sessions and media files, on a batch engine
(batch/: this machine, or a Ray cluster). Each input gets its own OUT/<name>/ (events.jsonl, report.html,
summary.json, as a single replay writes), and the batch one table: OUT/summary.json and OUT/summary.html.

The models load once per worker (ReplayWorker.setup), not once per input; an input that cannot be replayed (not
media, a broken file) is one row of the table saying why, and the others go on. `resume` skips the inputs whose
report.html is already there (it is written last)."""

from __future__ import annotations

import hashlib
import html
import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ui.session import SessionModels

from basics.errors import MediaError
from ui.replay import MEDIA_SUFFIXES, replay

SESSION_FILES = ("meta.json", "events.jsonl", "audio.wav", "video.mp4", "consent.jsonl")
BATCH_SUMMARY_FORMAT = "empathic-replay-batch/1"


@dataclass(frozen=True)
class ReplayJob:
    name: str  # the folder under OUT
    path: Path
    out_dir: Path


def model_parts(without: frozenset[str]) -> list[str]:
    """The models a replay loads: all but those of the modalities switched off."""
    return [p for p in ("vad", "asr", "text", "prosody", "face", "fusion", "responder")
            if not (p == "face" and "face" in without) and not (p == "prosody" and "voice" in without)]


def is_session(folder: Path) -> bool:
    return folder.is_dir() and any((folder / name).exists() for name in SESSION_FILES)


def find_inputs(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Every input the paths name: a session folder or a file as itself; any other folder as the sessions and
    media files directly inside it (sorted). A path that does not exist stays (its row will say so)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir() and not is_session(path):
            found += sorted(child for child in path.iterdir()
                            if is_session(child) or (child.is_file() and child.suffix.lower() in MEDIA_SUFFIXES))
        else:
            found.append(path)
    return found


def plan_jobs(inputs: list[Path], out: Path) -> list[ReplayJob]:
    """One output folder per input, named after it; a repeated name gets -2, -3, ..."""
    jobs, used = [], set()
    for path in inputs:
        base = (path.stem if path.is_file() else path.name) or "input"
        name, n = base, 1
        while name in used:
            n += 1
            name = f"{base}-{n}"
        used.add(name)
        jobs.append(ReplayJob(name, path, out / name))
    return jobs


def _sha256_file(path: Path) -> str | None:
    if not path.exists():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _row(job: ReplayJob, summary: dict | None, error: str | None) -> dict:
    row: dict[str, Any] = {"name": job.name, "source": str(job.path), "ok": error is None, "error": error}
    if summary is not None:
        row.update({key: summary.get(key) for key in ("media_s", "wall_s", "x_real_time", "turns", "events")})
        row["problems"] = len(summary.get("problems") or ())
        row["events_sha256"] = _sha256_file(job.out_dir / "events.jsonl")
    return row


class ReplayWorker:
    """Replay as a batch Worker: the models load once in setup(), then each ReplayJob is replayed with them."""

    def __init__(self, *, asr: str = "faster-whisper", backend: str = "llamacpp", model: str | None = None,
                 url: str | None = None, without: frozenset[str] = frozenset(), diff: bool = False,
                 template_replies: bool = False) -> None:
        self.config: dict[str, Any] = {"backend": backend, "model": model, "url": url, "asr": asr}
        self.without = frozenset(without)
        self.diff = diff
        self.template_replies = template_replies  # replies from the responder's templates (no LLM): for speed
        self._models: SessionModels | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_models": None}  # models never travel: each worker loads its own

    def setup(self) -> None:
        from ui.session import load_models

        models = load_models(asr_engine=self.config["asr"], backend_kind=self.config["backend"],
                             backend_model=self.config["model"], backend_url=self.config["url"],
                             parts=model_parts(self.without))
        if self.template_replies:
            models = replace(models, responder=models.local_responder)
        self._models = models

    def __call__(self, job: ReplayJob) -> dict:
        try:
            result = replay(job.path, job.out_dir, self._models, without=self.without, diff=self.diff,
                            progress=False, config=self.config)
        except (MediaError, ValueError, OSError) as err:
            text = str(err).strip()
            return _row(job, None, text.splitlines()[0] if text else type(err).__name__)
        return _row(job, result.summary, None)

    def close(self) -> None:
        if self._models is not None:
            self._models.close()
            self._models = None


def run_batch(jobs: list[ReplayJob], out: Path, worker: ReplayWorker, engine, *, progress: bool = True,
              resume: bool = False) -> dict:
    """Replay every job on `engine`; write OUT/summary.json and OUT/summary.html; return the summary."""
    from batch.progress import batch_bar

    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    todo = []
    for job in jobs:
        if resume and (job.out_dir / "report.html").exists() and (job.out_dir / "summary.json").exists():
            rows.append(_row(job, json.loads((job.out_dir / "summary.json").read_text()), None))
        else:
            todo.append(job)
    started = time.perf_counter()
    with batch_bar(len(todo), "replay", "file", enabled=progress) as bar:
        for _, row in engine.map(worker, todo):
            rows.append(row)
            bar.update(1)
    rows.sort(key=lambda r: r["name"])
    summary = {
        "format": BATCH_SUMMARY_FORMAT, "inputs": len(rows), "replayed": sum(r["ok"] for r in rows),
        "failed": sum(not r["ok"] for r in rows), "resumed": len(jobs) - len(todo),
        "media_s": round(sum(r.get("media_s") or 0.0 for r in rows), 3),
        "wall_s": round(time.perf_counter() - started, 3), "engine": engine.describe(), "rows": rows,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1, allow_nan=False) + "\n")
    write_summary_html(summary, out / "summary.html")
    return summary


def write_summary_html(summary: dict, path: Path) -> Path:
    esc = html.escape
    head = ("<tr><th>input</th><th>result</th><th>media s</th><th>wall s</th><th>x real time</th><th>turns</th>"
            "<th>events</th><th>notes</th></tr>")
    lines = []
    for r in summary["rows"]:
        link = f'<a href="{esc(r["name"])}/report.html">{esc(r["name"])}</a>' if r["ok"] else esc(r["name"])
        result = "replayed" if r["ok"] else f"failed: {esc(r['error'] or '')}"
        lines.append(f"<tr><td>{link}<br><small>{esc(r['source'])}</small></td><td>{result}</td>"
                     f"<td>{r.get('media_s') or ''}</td><td>{r.get('wall_s') or ''}</td>"
                     f"<td>{r.get('x_real_time') or ''}</td><td>{r.get('turns', '')}</td>"
                     f"<td>{r.get('events', '')}</td><td>{r.get('problems', '')}</td></tr>")
    document = ("<!doctype html><html><head><meta charset='utf-8'><title>Replay batch</title>"
                "<style>body{font-family:sans-serif;max-width:1150px;margin:1em auto;color:#222}"
                "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style>"
                f"</head><body><h1>Replay batch</h1><p>{summary['inputs']} inputs: {summary['replayed']} replayed, "
                f"{summary['failed']} failed, {summary['resumed']} kept from an earlier run; "
                f"{summary['media_s']} s of media in {summary['wall_s']} s ({esc(summary['engine'])}).</p>"
                f"<table>{head}{''.join(lines)}</table></body></html>\n")
    path.write_text(document, encoding="utf-8")
    return path
