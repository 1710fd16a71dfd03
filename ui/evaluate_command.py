"""`empathic evaluate [MANIFEST] --a CONFIG --b CONFIG [--limit N] [--seed S] --out DIR`: both configurations'
replies on the same contexts, for blind rating in the app's Evaluate tab; `empathic evaluate --report DIR`: the
report of the ratings so far (report.json, report.html, PNGs).

A CONFIG is key=value pairs joined by commas, every key left out keeping the embedded default:
backend (llamacpp, transformers, openai), model, url, coe (cbt, dbt, person-centred, reality, none),
critic (on: the reply check, a retry and the template fallback; off: the first attempt unchecked), text_emotion
(auto, model, lexicon). `human` takes the manifest's reference replies. Without MANIFEST, contexts come from
EmpatheticDialogues valid (development data), a seeded 30 unless --limit says otherwise.
"""

from __future__ import annotations

import argparse
import shlex
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifest", nargs="?", default=None,
                        help="JSON Lines with text, context, reference_reply (default: EmpatheticDialogues valid, "
                             "written once from $EMPATHIC_DATA)")
    parser.add_argument("--a", default="", metavar="CONFIG",
                        help="side A, e.g. coe=cbt (default: the embedded default)")
    parser.add_argument("--b", default="", metavar="CONFIG", help="side B, e.g. coe=person-centred, or human")
    parser.add_argument("--limit", type=int, default=None, help="a seeded random choice of N contexts")
    parser.add_argument("--seed", type=int, default=0, help="seed of --limit's choice and of the report's bootstrap")
    parser.add_argument("--out", default=None, help="run folder for run.json and replies.jsonl (ratings go there too)")
    parser.add_argument("--report", default=None, metavar="DIR",
                        help="instead of generating: write DIR/report.json, report.html and the PNGs from its ratings")
    parser.add_argument("--quiet", action="store_true", help="no line per context")


def run(args: argparse.Namespace) -> int:
    if args.report:
        return report(args)
    if not args.out:
        raise ValueError("--out DIR is needed (or --report DIR for the report of a rated run)")
    from pathlib import Path

    from evaluation.pairwise import DEFAULT_ED_LIMIT, ensure_rating_manifest, parse_config, run_pairwise

    a, b = parse_config(args.a, "--a"), parse_config(args.b, "--b")  # before any model loads: a typo costs nothing
    limit = args.limit
    if args.manifest is None:
        manifest = ensure_rating_manifest()
        limit = limit if limit is not None else DEFAULT_ED_LIMIT
    else:
        manifest = Path(args.manifest)
    command = " ".join(shlex.quote(w) for w in (
        ["empathic", "evaluate", str(manifest), "--a", a.label, "--b", b.label, "--out", str(args.out)]
        + (["--limit", str(limit)] if limit is not None else []) + ["--seed", str(args.seed)]))
    result = run_pairwise(manifest, a, b, args.out, limit=limit, seed=args.seed, command=command,
                          progress=None if args.quiet else lambda line: print(line, file=sys.stderr, flush=True))
    print(f"{result.contexts} contexts, A = {a.label}, B = {b.label} ({result.skipped} manifest lines skipped, "
          f"{result.wall_s} s): {result.out}/replies.jsonl")
    print(f"rate them: empathic demo, tab Evaluate, run folder {result.out}; "
          f"then: empathic evaluate --report {result.out}")
    return 0


def report(args: argparse.Namespace) -> int:
    from evaluation.pairwise import print_warnings
    from evaluation.rating_report import summary_lines, write_report

    result, paths = write_report(args.report, seed=args.seed)
    print_warnings(result["warnings"])
    print("\n".join(summary_lines(result)))
    print(f"report: {paths['html']}")
    return 0
