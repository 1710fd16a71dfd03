"""`empathic setup`: fetch and verify every model file, so the first real run does not wait on it."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="print nothing on success")


def run(args: argparse.Namespace) -> int:
    from perception.assets import ensure_all

    paths = ensure_all()
    if not args.quiet:
        for name, path in paths.items():
            print(f"ok  {name:18s} {path}")
    return 0
