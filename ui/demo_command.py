"""`empathic demo`: the live web demo on http://127.0.0.1:7860 (this machine only, unless --host says otherwise)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ui.respond_command import add_backend_options


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1: reachable from this machine only)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--share", action="store_true",
                        help="also open a public gradio.live link (off unless asked: it routes the page through "
                             "Gradio's servers)")
    add_backend_options(parser)
    parser.add_argument("--asr", default="faster-whisper", choices=("faster-whisper", "openai-whisper"),
                        help="speech-to-text engine")
    parser.add_argument("--counters-file", type=Path, default=None,
                        help="keep every session's counters and consent ledger in this JSON file")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="where sessions are stored when a person turns on 'store' (default: $EMPATHIC_DATA_DIR, "
                             "else ~/.local/share/empathic/sessions)")


def run(args: argparse.Namespace) -> int:
    import sys

    from ui.app import launch
    from ui.session import load_models

    if args.data_dir is not None:  # the app's DemoServer reads it from there, as `empathic sessions` does
        import os

        os.environ["EMPATHIC_DATA_DIR"] = str(args.data_dir)
    if not 0 < args.port < 65536:
        raise ValueError(f"--port must be between 1 and 65535, got {args.port}")
    print(f"empathic demo: loading models, then serving on http://{args.host}:{args.port}", flush=True)
    models = load_models(asr_engine=args.asr, backend_kind=args.backend, backend_model=args.model,
                         backend_url=args.url)
    for part, status in models.status.items():
        if status.startswith("unavailable"):  # the demo still runs, without that part; say so up front
            print(f"empathic demo: warning: {part} {status}", file=sys.stderr, flush=True)
    launch(host=args.host, port=args.port, share=bool(args.share), models=models, backend_url=args.url,
           counters_file=args.counters_file)
    return 0
