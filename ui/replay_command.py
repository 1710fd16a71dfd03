"""`empathic replay PATH --out DIR`: a recorded session folder or any video/audio file (mp4, webm, mov, mkv, wav,
mp3, ...) through the live pipeline, to DIR/events.jsonl, DIR/report.html (with DIR/timeline.png) and
DIR/summary.json; `--diff` also compares with the session's recorded events (DIR/diff.json)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ui.respond_command import add_backend_options


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="a session folder (see `empathic sessions list`) or a media file")
    parser.add_argument("--out", type=Path, required=True, help="folder for events.jsonl, report.html, summary.json")
    parser.add_argument("--without", default="",
                        help="modalities to switch off, comma-separated: text,voice,face (text and voice both off: "
                             "nothing is heard, so there are no turns)")
    add_backend_options(parser)
    parser.add_argument("--asr", default="faster-whisper", choices=("faster-whisper", "openai-whisper"),
                        help="speech-to-text engine")
    parser.add_argument("--diff", action="store_true", help="compare with the session's recorded events.jsonl")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import sys

    from ui.replay import check_without, diff_lines, open_source, replay
    from ui.session import load_models

    without = check_without(args.without)  # bad options and bad input fail before the models load
    source = open_source(args.path)
    if args.diff and source.recorded_events is None:
        raise ValueError(f"{args.path}: --diff needs a session folder with its recorded events.jsonl")
    parts = [p for p in ("vad", "asr", "text", "prosody", "face", "fusion", "responder")
             if not (p == "face" and "face" in without) and not (p == "prosody" and "voice" in without)]
    models = load_models(asr_engine=args.asr, backend_kind=args.backend, backend_model=args.model,
                         backend_url=args.url, parts=parts)
    for part, status in models.status.items():
        if status.startswith("unavailable"):
            print(f"empathic replay: warning: {part} {status}", file=sys.stderr)
    try:
        result = replay(args.path, args.out, models, without=without, diff=args.diff,
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
