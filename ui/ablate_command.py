"""`empathic ablate MANIFEST --conditions text,audio,face,text+audio,text+face,all --out DIR`: text-only against
multimodal on labelled data; writes DIR/report.json, DIR/predictions.jsonl and DIR/report.html.

With --responses, every sample that has words (its text, or its transcript) also gets a reply from the project's
responder under each condition's emotion state, and the report adds per condition: the reply-check pass rate (the
reply was generated and passed the check, first or second attempt), the fallback rate (the template had to stand
in), distinct-1/2, mean length in words, and, where the sample has a `reference_reply`, the cosine similarity of
the reply to it in MiniLM sentence embeddings (the project's embedder, agent.exemplars.MiniLMEmbedder). Every reply
is written to DIR/replies.jsonl.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.contracts import Reply

import argparse
import json
import shlex
import sys

from ui.respond_command import add_responder_options

CONDITION_NAMES = "text,audio,face,text+audio,text+face,all"
# Text samples take milliseconds: a Ray task per sample would cost more in messages than in work.
RAY_SHARD_SAMPLES = 8


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    """--engine, --address, --workers: where a batch runs (ablate and replay take these)."""
    parser.add_argument("--engine", choices=("local", "ray"), default="local",
                        help="local: this machine (default); ray: a Ray cluster (pip install 'empathic-agent[ray]')")
    parser.add_argument("--address", default=None,
                        help="with --engine ray: the cluster's head, HOST:PORT (default: a private Ray on 127.0.0.1)")
    parser.add_argument("--workers", type=int, default=None,
                        help="with --engine ray: worker processes (default: one per CPU of the cluster; 2 privately)")


def engine_from_args(args: argparse.Namespace, shard_size: int = 1):
    """The batch engine the options ask for; a one-line error for options that do not fit together."""
    from batch.engine import make_engine

    if args.engine != "ray" and (args.address is not None or args.workers is not None):
        raise ValueError("--address and --workers need --engine ray")
    if args.engine == "ray" and getattr(args, "jobs", 1) != 1:
        raise ValueError("--jobs is for the local engine; with --engine ray, --workers says how many")
    return make_engine(args.engine, jobs=getattr(args, "jobs", 1), address=args.address, workers=args.workers,
                       shard_size=shard_size)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifest", help="JSON Lines manifest (see evaluation/manifest.py for the format)")
    parser.add_argument("--conditions", default=CONDITION_NAMES,
                        help=f"comma-separated, of {CONDITION_NAMES} (default: all six); audio = the voice")
    parser.add_argument("--out", required=True, help="folder for report.json, predictions.jsonl, report.html")
    parser.add_argument("--responses", action="store_true", help="also generate and measure replies per condition")
    parser.add_argument("--limit", type=int, default=None, help="run a seeded random choice of N samples")
    parser.add_argument("--seed", type=int, default=0, help="seed of --limit's choice and of the bootstrap")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes for perception (default 1)")
    add_engine_options(parser)
    parser.add_argument("--resume", action="store_true",
                        help="keep the samples an earlier run in --out finished; perceive only the rest")
    parser.add_argument("--no-cache", action="store_true", help="perceive everything afresh (no cue cache)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_responder_options(parser)


def history_from_context(context) -> list[tuple[str, str]]:
    """The manifest's earlier turns as (role, text), the last one the agent's: turns alternate back from the
    sample's own (user) turn."""
    turns = list(context or ())
    roles = ["assistant" if (len(turns) - i) % 2 == 1 else "user" for i in range(len(turns))]
    return list(zip(roles, turns))


class ReplyCollector:
    """Generates a reply for each sample with words, under each condition's state, and sums them up at the end.
    Replies are reused when a condition yields the same appraisal for the same turn (generation is deterministic on
    the first attempt, and seeded on the retry), so conditions that agree cost one generation."""

    def __init__(self, responder, conditions, replies_path=None) -> None:
        self.responder = responder
        self.replies_path = replies_path  # every reply as JSON Lines (id, condition, emotion read, route, reply)
        self.records: dict[str, list[dict]] = {c: [] for c in conditions}
        self._memo: dict[tuple, Reply] = {}
        self.generated = self.reused = 0

    def __call__(self, sample, perceived, rows) -> None:
        if not perceived.text:
            return
        history = history_from_context(sample.context)
        for prediction, state in rows:
            appraisal, _ = self.responder.appraise(perceived.text, state, None, history)
            key = (perceived.text, tuple(history), appraisal)
            reply = self._memo.get(key)
            if reply is None:
                reply = self.responder.respond(perceived.text, state=state, history=history)
                self._memo[key] = reply
                self.generated += 1
            else:
                self.reused += 1
            record = {"id": sample.id, "route": reply.route, "reply": reply.text, "reference": sample.reference_reply}
            self.records[prediction.condition].append(record)
            if self.replies_path is not None:
                with open(self.replies_path, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps({"condition": prediction.condition, "text": perceived.text,
                                             "emotion": reply.appraisal.emotion, "need": reply.appraisal.need,
                                             **record}, ensure_ascii=False) + "\n")
        if len(self._memo) > 64:  # only the current sample's turns can repeat; keep memory flat
            self._memo.clear()

    def summary(self, embedder=None) -> dict:
        from evaluation.ablation_stats import distinct_n

        by_condition = {}
        for condition, records in self.records.items():
            if not records:
                by_condition[condition] = {"n": 0}
                continue
            texts = [r["reply"] for r in records]
            generated = [r for r in records if r["route"] != "crisis"]
            row = {
                "n": len(records),
                "crisis_routed": len(records) - len(generated),
                "check_pass_rate": round(sum(r["route"] == "generated" for r in generated) / max(1, len(generated)), 4),
                "fallback_rate": round(sum(r["route"] == "fallback" for r in generated) / max(1, len(generated)), 4),
                "distinct_1": distinct_n(texts, 1),
                "distinct_2": distinct_n(texts, 2),
                "mean_words": round(sum(len(t.split()) for t in texts) / len(texts), 2),
            }
            with_reference = [r for r in records if r["reference"]]
            if with_reference and embedder is not None:
                replies = embedder.embed([r["reply"] for r in with_reference])
                references = embedder.embed([r["reference"] for r in with_reference])
                row["reference_similarity"] = round(float((replies * references).sum(axis=1).mean()), 4)
                row["reference_n"] = len(with_reference)
            by_condition[condition] = row
        return {"conditions": by_condition, "generated": self.generated, "reused_same_appraisal": self.reused}


def run(args: argparse.Namespace) -> int:
    from evaluation.ablation import parse_conditions, run_ablation
    from evaluation.ablation_report import build_report, write_report

    conditions = parse_conditions(args.conditions)
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be at least 1, got {args.limit}")
    if args.resume and args.responses:
        raise ValueError("--resume cannot be used with --responses (the replies of the finished samples are not kept)")
    engine = engine_from_args(args, shard_size=RAY_SHARD_SAMPLES)
    collector = None
    notes: list[str] = []
    if args.responses:
        from pathlib import Path

        from ui.respond_command import build_responder

        responder, notes = build_responder(args)
        replies_path = Path(args.out) / "replies.jsonl"
        replies_path.parent.mkdir(parents=True, exist_ok=True)
        replies_path.unlink(missing_ok=True)
        collector = ReplyCollector(responder, conditions, replies_path)
    result = run_ablation(args.manifest, conditions, args.out, limit=args.limit, seed=args.seed, jobs=args.jobs,
                          progress=not args.quiet, use_cache=not args.no_cache, on_sample=collector,
                          engine=engine, resume=args.resume)
    for example in result.skipped.examples:
        print(f"{args.manifest}: {example}", file=sys.stderr)
    if result.skipped.total > len(result.skipped.examples):
        print(f"{args.manifest}: ... {result.skipped.total - len(result.skipped.examples)} more lines skipped",
              file=sys.stderr)
    responses = None
    if collector is not None:
        embedder = None
        if any(r["reference"] for records in collector.records.values() for r in records):
            from agent.exemplars import MiniLMEmbedder

            embedder = MiniLMEmbedder()
        responses = collector.summary(embedder)
        responses["responder"] = notes
        responses["note"] = ("check_pass_rate: generated and passed the reply check (first or second attempt); "
                             "fallback_rate: the template reply stood in; reference_similarity: mean cosine of "
                             "MiniLM embeddings of the reply and the manifest's reference_reply.")
    command = command_line(args, conditions)
    report = build_report(result, seed=args.seed, command=command, responses=responses)
    paths = write_report(report, args.out)
    print(_summary_table(report))
    print(f"report: {paths['html']}  ({result.samples} samples, {result.skipped.total} lines skipped, "
          f"{result.wall_s} s)")
    return 0


def command_line(args: argparse.Namespace, conditions) -> str:
    """The command that reproduces this run (what the report quotes)."""
    words = ["empathic", "ablate", str(args.manifest), "--conditions", ",".join(conditions), "--out", str(args.out)]
    if args.responses:
        words += ["--responses", "--backend", args.backend] + (["--model", args.model] if args.model else [])
    if args.limit is not None:
        words += ["--limit", str(args.limit)]
    words += ["--seed", str(args.seed)]
    if getattr(args, "engine", "local") == "ray":
        words += ["--engine", "ray"] + (["--address", args.address] if args.address else []) \
            + (["--workers", str(args.workers)] if args.workers else [])
    else:
        words += ["--jobs", str(args.jobs)]
    return " ".join(shlex.quote(w) for w in words)


def _summary_table(report: dict) -> str:
    lines = [f"{'condition':<12} {'n':>5} {'coverage':>8} {'accuracy':>8}  macro-F1 [95% CI]"]
    for name, m in report["conditions"].items():
        if "macro_f1" not in m:
            lines.append(f"{name:<12} {m['n']:>5} {m['coverage']:>8.2f}  (no labels)")
            continue
        ci = m.get("ci95", {}).get("macro_f1")
        lines.append(f"{name:<12} {m['n']:>5} {m['coverage']:>8.2f} {m['accuracy']:>8.3f}  {m['macro_f1']:.3f}"
                     + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""))
    return "\n".join(lines)
