"""Measure the responder's replies: `python -m evaluation.evaluate_responses [--limit N]`.

Two sets: the project's scripted turns (tests/data/scripted_turns.jsonl, expected emotion and need) and a seeded
sample of real listener contexts from EmpatheticDialogues valid (response_valid.jsonl; the last speaker turn is
answered, earlier turns are the history; the dialogue's emotion is mapped to the 7 labels by the data README's
approximate mapping). ED is used to measure only: none of its text goes into the exemplar bank.

Reported per set: appraisal emotion accuracy (and need accuracy where known), the reply-check pass rate on the
first attempt and before the fallback, the fallback rate, valence consistency of the model's first attempt and of
the final reply (no condolence to good news, no cheer to distress, judged against the gold emotion), the share of
final replies with an open question, mean length in words, replies cut off mid-sentence, distinct-2, loops, and
latency. Writes evaluation/data/response_quality.json; per-turn detail goes to /tmp/response_quality_turns.jsonl.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

from agent.contracts import Appraisal
from agent.reply_check import SENTENCE_END, asks_open_question, has_loop, problems, valence_consistent
from agent.responder import PROMPT_STYLES, Responder, tidy_reply
from evaluation.reply_scores import rates, score_reply, similarities

REPO = Path(__file__).resolve().parent.parent
SCRIPTED_PATH = REPO / "tests" / "data" / "scripted_turns.jsonl"
OUT_PATH = Path(__file__).parent / "data" / "response_quality.json"
NEGATIVE = {"anger", "disgust", "fear", "sadness"}


def data_dir() -> Path:
    return Path(os.environ.get("EMPATHIC_DATA", REPO.parent / "shared" / "data"))


def load_scripted() -> list[dict]:
    turns = []
    for line in SCRIPTED_PATH.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            turns.append({"text": row["text"], "history": [], "emotion": row["emotion"], "need": row["need"]})
    return turns


def load_ed_sample(limit: int, seed: int) -> list[dict]:
    root = data_dir()
    label_map = json.loads((root / "label_map_7class.json").read_text())["empathetic_dialogues_approx"]
    rows = [json.loads(line) for line in (root / "empathetic_dialogues" / "response_valid.jsonl").open()]
    random.Random(seed).shuffle(rows)
    turns = []
    for row in rows:
        context = row["context"]
        if not context or context[-1]["role"] != "speaker" or row["emotion"] not in label_map:
            continue
        # ED text is tokenised ("i 'm", "do n't"); undo the spacing so it reads like typed text
        clean = [(" ".join(turn["text"].split()).replace(" ' ", "'").replace(" 's", "'s").replace(" n't", "n't")
                  .replace(" ,", ",").replace(" .", ".").replace(" !", "!").replace(" ?", "?")) for turn in context]
        history = [("user" if t["role"] == "speaker" else "assistant", c) for t, c in zip(context[:-1], clean[:-1])]
        turns.append({"text": clean[-1], "history": history, "emotion": label_map[row["emotion"]], "need": None,
                      "id": row["id"]})
        if len(turns) >= limit:
            break
    return turns


def distinct_2(texts: list[str]) -> float:
    grams = [tuple(words[i:i + 2]) for t in texts for words in [t.lower().split()] for i in range(len(words) - 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def gold_appraisal(predicted: Appraisal, emotion: str, need: str | None) -> Appraisal:
    """The appraisal with the gold emotion (and need when known): valence consistency is judged against truth."""
    gold_need = need or ("celebration" if emotion == "joy" else predicted.need)
    return Appraisal(emotion=emotion, intensity=predicted.intensity, cause=predicted.cause, need=gold_need)


def run_set(responder: Responder, turns: list[dict], name: str) -> tuple[dict, list[dict]]:
    records = []
    for number, turn in enumerate(turns, start=1):
        attempts: list[list[str]] = [[]]
        reply = responder.respond(turn["text"], history=turn["history"],
                                  on_token=cast("Callable[[str], None]", lambda p, a=attempts: a[-1].append(p)),
                                  on_restart=cast("Callable[[], None]", lambda a=attempts: a.append([])))
        first_raw = "".join(attempts[0]) if reply.route != "crisis" else ""
        said = " ".join([content for role, content in turn["history"] if role == "user"] + [turn["text"]])
        records.append({"set": name, "text": turn["text"], "said": said, "gold_emotion": turn["emotion"],
                        "gold_need": turn["need"],
                        "emotion": reply.appraisal.emotion, "need": reply.appraisal.need,
                        "cause": reply.appraisal.cause, "route": reply.route, "reply": reply.text,
                        "first_attempt": tidy_reply(first_raw), "first_attempt_raw": first_raw,
                        "latency_s": reply.latency_s, "first_token_s": reply.first_token_s, "status": reply.status})
        print(f"[{name} {number}/{len(turns)}] {reply.route:9s} {reply.latency_s:5.1f}s  {reply.text[:90]}",
              file=sys.stderr, flush=True)
    return summarise(records), records


def summarise(records: list[dict]) -> dict:
    generated = [r for r in records if r["route"] != "crisis"]
    n = len(generated)
    if n == 0:
        return {"n": len(records)}
    first_pass, valence_first, valence_final = 0, 0, 0
    failures: Counter[str] = Counter()  # why first attempts fail the check, by kind ("too long", "cheer to distress")
    for r in generated:
        predicted = Appraisal(emotion=r["emotion"], intensity=0.5, cause=r["cause"], need=r["need"])
        found = problems(r["first_attempt"], predicted, r.get("said", r["text"]))
        first_pass += not found
        failures.update({re.sub(r"\s*\(.*$|'.*$|\d+ ", "", problem).strip() for problem in found})
        gold = gold_appraisal(predicted, r["gold_emotion"], r["gold_need"])
        valence_first += valence_consistent(r["first_attempt"], gold)
        valence_final += valence_consistent(r["reply"], gold)
    finals = [r["reply"] for r in generated]
    summary = {
        "n": len(records),
        "crisis_routed": len(records) - n,
        "appraisal_emotion_accuracy": round(sum(r["emotion"] == r["gold_emotion"] for r in records) / len(records), 3),
        "check_pass_first_attempt": round(first_pass / n, 3),
        "check_pass_before_fallback": round(sum(r["route"] == "generated" for r in generated) / n, 3),
        "fallback_rate": round(sum(r["route"] == "fallback" for r in generated) / n, 3),
        "valence_consistency_first_attempt": round(valence_first / n, 3),
        "valence_consistency_final": round(valence_final / n, 3),
        "open_question_share": round(sum(asks_open_question(t) for t in finals) / n, 3),
        "mean_words": round(statistics.mean(len(t.split()) for t in finals), 1),
        "cut_off_replies": sum(not SENTENCE_END.search(t.strip()) for t in finals),
        "first_attempts_cut_off_raw": sum(bool(r["first_attempt_raw"].strip()) and
                                          not SENTENCE_END.search(r["first_attempt_raw"].strip()) for r in generated),
        "distinct_2": round(distinct_2(finals), 3),
        "loops_final": sum(has_loop(t) for t in finals),
        "loops_first_attempt_raw": sum(has_loop(r["first_attempt_raw"]) for r in generated),
        "latency_s_median": round(statistics.median(r["latency_s"] for r in generated), 2),
        "first_attempt_failures_by_kind": dict(failures.most_common()),
    }
    # the reader's measures (evaluation/reply_scores.py), judged against the gold emotion, on every final reply
    scores = []
    cosines: Sequence[float | None] | None = similarities([r["reply"] for r in generated],
                                                          [r.get("said", r["text"]) for r in generated])
    for r, cosine in zip(generated, cosines or [None] * n):
        predicted = Appraisal(emotion=r["emotion"], intensity=0.5, cause=r["cause"], need=r["need"])
        scores.append(score_reply(r["reply"], r.get("said", r["text"]),
                                  gold_appraisal(predicted, r["gold_emotion"], r["gold_need"]), r["route"],
                                  similarity=cosine))
    summary["reply_scores"] = rates(scores)
    summary["reply_scores"]["relevance_by"] = "shared words or MiniLM cosine" if cosines else "shared words"
    firsts = [r["first_token_s"] for r in generated if r["first_token_s"] is not None]
    if firsts:
        summary["first_token_s_median"] = round(statistics.median(firsts), 2)
    needs = [r for r in records if r["gold_need"]]
    if needs:
        summary["appraisal_need_accuracy"] = round(sum(r["need"] == r["gold_need"] for r in needs) / len(needs), 3)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.evaluate_responses",
                                     description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--limit", type=int, default=150, help="EmpatheticDialogues contexts to sample (0: none)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the ED sample")
    parser.add_argument("--no-scripted", action="store_true", help="skip the scripted turns")
    parser.add_argument("--coe", default=None, help="Chain-of-Empathy variant: cbt, dbt, person-centred, reality")
    parser.add_argument("--text-emotion", default="auto", choices=("auto", "model", "lexicon"),
                        help="text-only appraisal: perception's model, the cue lexicon, or auto")
    parser.add_argument("--backend", default="llamacpp")
    parser.add_argument("--model", default=None,
                        help="GGUF path, or a fetched model's name (qwen2.5-1.5b, qwen2.5-0.5b)")
    parser.add_argument("--prompt", default="auto", choices=PROMPT_STYLES,
                        help="retrieved exemplars (the 135M) or the compact cached prefix (auto: by model)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds a reply may take before the template is used (default: the live 30 s)")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: the backend's)")
    parser.add_argument("--out", type=Path, default=OUT_PATH)
    parser.add_argument("--turns-out", type=Path, default=Path("/tmp/response_quality_turns.jsonl"),
                        help="per-turn detail (JSONL)")
    parser.add_argument("--rescore", type=Path, default=None,
                        help="score the replies of an earlier run's per-turn file again (no generation) and print")
    args = parser.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.rescore is not None:
        if not args.rescore.is_file():
            print(f"{args.rescore}: no such per-turn file", file=sys.stderr)
            return 2
        rows = [json.loads(line) for line in args.rescore.read_text(encoding="utf-8").splitlines() if line.strip()]
        by_set: dict[str, list[dict]] = {}
        for row in rows:
            by_set.setdefault(row["set"], []).append(row)
        print(json.dumps({name: summarise(part) for name, part in by_set.items()}, indent=2))
        return 0
    from agent.appraisal import load_text_emotion
    from agent.backends import make_backend

    options = {"n_threads": args.threads} if args.threads and args.backend == "llamacpp" else {}
    backend = make_backend(args.backend, model=args.model, **options)
    text_emotion, text_emotion_note = load_text_emotion(args.text_emotion)
    responder = Responder(backend, coe=args.coe, text_emotion=text_emotion, prompt=args.prompt,
                          timeout_s=args.timeout)
    started = time.time()
    results: dict[str, dict] = {}
    records: list[dict] = []
    if not args.no_scripted:
        results["scripted_turns"], part = run_set(responder, load_scripted(), "scripted")
        records += part
    if args.limit > 0:
        results["empathetic_dialogues_valid_sample"], part = run_set(
            responder, load_ed_sample(args.limit, args.seed), "ed")
        records += part
    report = {
        "command": "python -m evaluation.evaluate_responses " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores shared with other jobs; {platform.platform()}",
        "backend": f"{backend.name}: {backend.model}",
        "prompt": responder.prompt_style,
        "timeout_s": args.timeout,
        "retrieval": responder.retriever.embedder_name if responder.prompt_style == "retrieved" else None,
        "coe": args.coe,
        "text_emotion": text_emotion_note,
        "data": {"scripted_turns": str(SCRIPTED_PATH.relative_to(REPO)),
                 "empathetic_dialogues_valid_sample": f"response_valid.jsonl, {args.limit} contexts, seed {args.seed}"
                 if args.limit > 0 else None},
        "n": {name: summary["n"] for name, summary in results.items()},
        "wall_s": round(time.time() - started, 1),
        "results": results,
        "examples": [{k: r[k] for k in ("set", "text", "emotion", "need", "route", "reply")} for r in records[:6]],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    with open(args.turns_out, "w") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
