"""`empathic replay PATH --out DIR`: a recorded session folder or any video/audio file (mp4, webm, mov, mkv, wav,
mp3, ...) through the live pipeline, to DIR/events.jsonl, DIR/report.html (with DIR/timeline.png) and
DIR/summary.json; `--diff` also compares with the session's recorded events (DIR/diff.json).

`empathic replay PATH PATH ... --out DIR` or a folder of sessions and media files: a batch (ui/replay_batch.py), on
this machine or with `--engine ray` on a Ray cluster: DIR/<name>/ for each input, DIR/summary.json and
DIR/summary.html for the batch."""

from __future__ import annotations

import argparse
from pathlib import Path

from ui.ablate_command import add_engine_options, engine_from_args
from ui.respond_command import add_backend_options


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="+",
                        help="a session folder (see `empathic sessions list`) or a media file; several, or a folder "
                             "of them, for a batch")
    parser.add_argument("--out", type=Path, required=True, help="folder for events.jsonl, report.html, summary.json")
    parser.add_argument("--without", default="",
                        help="modalities to switch off, comma-separated: text,voice,face (text and voice both off: "
                             "nothing is heard, so there are no turns)")
    add_backend_options(parser)
    parser.add_argument("--asr", default="faster-whisper", choices=("faster-whisper", "openai-whisper"),
                        help="speech-to-text engine")
    parser.add_argument("--diff", action="store_true", help="compare with the session's recorded events.jsonl")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_engine_options(parser)
    parser.add_argument("--resume", action="store_true",
                        help="a batch: skip the inputs whose report is already in --out")


def run(args: argparse.Namespace) -> int:
    from ui.replay import check_without
    from ui.replay_batch import find_inputs, is_session

    check_without(args.without)
    engine = engine_from_args(args)
    paths = [Path(p) for p in args.path]
    batch = len(paths) > 1 or (paths[0].is_dir() and not is_session(paths[0]))
    if batch:
        return _run_batch(args, find_inputs(paths), engine)
    if args.engine == "ray":
        return _run_one_on_engine(args, paths[0], engine)
    return _run_one(args, str(paths[0]))


def _worker(args: argparse.Namespace):
    from ui.replay import check_without
    from ui.replay_batch import ReplayWorker

    return ReplayWorker(asr=args.asr, backend=args.backend, model=args.model, url=args.url,
                        without=check_without(args.without), diff=args.diff)


def _run_batch(args: argparse.Namespace, inputs: list[Path], engine) -> int:
    from ui.replay_batch import plan_jobs, run_batch

    if not inputs:
        raise ValueError(f"{', '.join(args.path)}: no session folders or media files to replay")
    summary = run_batch(plan_jobs(inputs, args.out), args.out, _worker(args), engine,
                        progress=not args.no_progress, resume=args.resume)
    for row in summary["rows"]:
        if not row["ok"]:
            print(f"  failed: {row['source']}: {row['error']}")
    print(f"replayed {summary['replayed']} of {summary['inputs']} inputs ({summary['media_s']:.1f} s of media) in "
          f"{summary['wall_s']:.1f} s on {summary['engine']}\nsummary: {args.out / 'summary.html'}")
    return 0 if summary["replayed"] else 1


def _run_one_on_engine(args: argparse.Namespace, path: Path, engine) -> int:
    from ui.replay import open_source
    from ui.replay_batch import ReplayJob

    source = open_source(path)  # bad input fails before any worker starts
    if args.diff and source.recorded_events is None:
        raise ValueError(f"{path}: --diff needs a session folder with its recorded events.jsonl")
    [(_, row)] = list(engine.map(_worker(args), [ReplayJob(path.name, path, args.out)]))
    if not row["ok"]:
        raise ValueError(row["error"])
    print(f"replayed {row['media_s']:.1f} s of media in {row['wall_s']:.1f} s on {engine.describe()}: "
          f"{row['turns']} turns, {row['events']} events\nevents: {args.out / 'events.jsonl'}\n"
          f"report: {args.out / 'report.html'}")
    return 0


def _run_one(args: argparse.Namespace, path: str) -> int:
    import sys

    from ui.replay import check_without, open_source, replay
    from ui.replay_batch import model_parts
    from ui.session import load_models
    from ui.timeline_file import diff_lines

    without = check_without(args.without)  # bad options and bad input fail before the models load
    source = open_source(path)
    if args.diff and source.recorded_events is None:
        raise ValueError(f"{path}: --diff needs a session folder with its recorded events.jsonl")
    models = load_models(asr_engine=args.asr, backend_kind=args.backend, backend_model=args.model,
                         backend_url=args.url, parts=model_parts(without))
    for part, status in models.status.items():
        if status.startswith("unavailable"):
            print(f"empathic replay: warning: {part} {status}", file=sys.stderr)
    try:
        result = replay(path, args.out, models, without=without, diff=args.diff,
                        progress=not args.no_progress,
                        config={"backend": args.backend, "model": args.model, "url": args.url, "asr": args.asr})
    finally:
        models.close()
    s = result.summary
    print(f"replayed {s['media_s']:.1f} s of media in {s['wall_s']:.1f} s ({s['x_real_time']:.1f}x real time): "
          f"{s['turns']} turns, {s['events']} events")
    for problem in s["problems"]:
        print(f"  note: {problem}")
    if result.diff is not None:
        print("\n".join(diff_lines(result.diff)))
    print(f"events: {result.events_path}\nreport: {result.report_path}")
    return 0
