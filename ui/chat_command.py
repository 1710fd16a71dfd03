"""`empathic chat`: a conversation in the terminal. Reads lines from stdin (so it works piped); `/appraisal` shows
the last appraisal, `/quit` (or end of input) ends it. Reply tokens are printed as they are generated."""

from __future__ import annotations

import argparse
import sys

from ui.respond_command import add_responder_options

HISTORY_KEPT = 8


def configure(parser: argparse.ArgumentParser) -> None:
    add_responder_options(parser)
    parser.add_argument("--no-stream", action="store_true", help="print each reply whole instead of token by token")


def run(args: argparse.Namespace) -> int:
    import json

    from ui.respond_command import build_responder, reply_as_json

    responder, notes = build_responder(args)
    interactive = sys.stdin.isatty()
    out = sys.stdout
    for note in notes:
        print(f"[{note}]", file=sys.stderr)
    if interactive:
        print("Talk to me. /appraisal shows how I read your last message, /quit ends.", file=out)
    history: list[tuple[str, str]] = []
    last = None
    while True:
        if interactive:
            out.write("you> ")
            out.flush()
        line = sys.stdin.readline()
        if not line:  # end of input
            break
        text = line.strip()
        if not text:
            continue
        if text in ("/quit", "/exit"):
            break
        if text == "/appraisal":
            if last is None:
                print("(no message yet)", file=out)
            else:
                print(json.dumps(reply_as_json(last)["appraisal"], ensure_ascii=False), file=out)
            continue
        if text.startswith("/"):
            print("commands: /appraisal, /quit", file=out)
            continue
        out.write("agent> ")
        out.flush()
        streamed: list[str] = []

        def show(piece: str, streamed: list[str] = streamed) -> None:
            streamed.append(piece)
            if not args.no_stream:
                out.write(piece)
                out.flush()

        def restart(streamed: list[str] = streamed) -> None:
            # the check rejected what was streamed: say so and start the line again
            if not args.no_stream and streamed:
                out.write("\n  (rephrasing)\nagent> ")
                out.flush()
            streamed.clear()

        last = responder.respond(text, history=history, on_token=show, on_restart=restart)
        if args.no_stream or "".join(streamed).strip() != last.text:
            # the final text differs from what streamed (trimmed to whole sentences, or the template)
            if not args.no_stream and streamed:
                out.write("\n  ")
            out.write(last.text)
        out.write("\n")
        for status in last.status:
            print(f"  [{status}]", file=sys.stderr)
        out.flush()
        history += [("user", text), ("assistant", last.text)]
        history = history[-HISTORY_KEPT:]
    return 0
