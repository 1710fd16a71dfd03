"""Responder speed on this machine: `run(quick) -> dict` of medians (the lead wires it into `empathic bench`).

Targets from the issue: code appraisal <= 50 ms; time to first token <= 1.5 s and full reply <= 4.0 s (measured
through Responder.respond, so retrieval, prompt and check are included). The first words a person sees are the
opener (agent/openers.py), written in code before the model runs; the model's own first token is reported apart.
Besides seconds, which a busy box inflates, it reports what does not depend on the load: prompt tokens llama.cpp
evaluated per reply, tokens it took from the prefix cache, and tokens generated. The larger model (`empathic setup
--model qwen2.5-1.5b`) is measured too when it is in the cache, with its compact prompt whose fixed prefix stays
cached.

    .venv/bin/python -m benchmarks.responder [--quick]
"""

from __future__ import annotations

import statistics
import time
from typing import Any

TURNS = (
    "I have a job interview tomorrow and I'm really nervous.",
    "My dog died yesterday and the house feels so empty.",
    "I finally got the promotion I was hoping for!",
    "My coworker took credit for my project in front of everyone.",
    "How do I change the battery in my smoke detector?",
)
LARGE_MODEL = "qwen2.5-1.5b"


def _measure(model: str | None, turns: tuple[str, ...], repeats: int) -> dict[str, Any]:
    from agent.backends import make_backend
    from agent.openers import is_opener
    from agent.responder import Responder

    backend = make_backend("llamacpp", model=model)
    responder = Responder(backend)
    responder.respond("Hello there.")  # warm-up: loads the embedding model, reads the prompt prefix once
    first, model_first, full, prompt_n, cache_n, predicted_n = [], [], [], [], [], []
    for text in turns * repeats:
        # each turn as the second of a conversation: the compact prompt's prefix is already cached, as it would be
        pieces: list[tuple[float, str]] = []
        started = time.perf_counter()

        def seen(piece: str, t0: float = started, got: list[tuple[float, str]] = pieces) -> None:
            got.append((time.perf_counter() - t0, piece))

        reply = responder.respond(text, history=[("user", "Hello there."), ("assistant", "Hi, I'm listening.")],
                                  on_token=seen)
        if reply.first_token_s is not None:
            first.append(reply.first_token_s)
        # the first piece is the opener (written in code, shown at once) where there is one; the model's own first
        # token is the piece after it
        model_pieces = pieces[1:] if pieces and is_opener(pieces[0][1]) else pieces
        if model_pieces and reply.route != "crisis":
            model_first.append(model_pieces[0][0])
        full.append(reply.latency_s)
        timings = getattr(backend, "last_timings", {})
        if timings:
            prompt_n.append(timings.get("prompt_n", 0))
            cache_n.append(timings.get("cache_n", 0))
            predicted_n.append(timings.get("predicted_n", 0))
    backend.close()
    out = {"reply_first_token_s_median": round(statistics.median(first), 3) if first else float("nan"),
           "reply_model_first_token_s_median": round(statistics.median(model_first), 3) if model_first
           else float("nan"),
           "reply_full_s_median": round(statistics.median(full), 3),
           "prompt_style": responder.prompt_style}
    if prompt_n:
        out.update(prompt_tokens_evaluated_median=statistics.median(prompt_n),
                   prompt_tokens_from_cache_median=statistics.median(cache_n),
                   tokens_generated_median=statistics.median(predicted_n))
    return out


def run(quick: bool = False) -> dict[str, Any]:
    from agent.appraisal import appraise_by_code
    from basics.assets import split_model_path
    from basics.errors import ModelUnavailableError

    turns = TURNS[:2] if quick else TURNS
    timings = []
    for _ in range(20):
        for text in turns:
            started = time.perf_counter()
            appraise_by_code(text)
            timings.append((time.perf_counter() - started) * 1000)
    figures: dict[str, Any] = {"appraisal_code_ms_median": round(statistics.median(timings), 2)}
    figures.update(_measure(None, turns, 1 if quick else 2))
    try:
        split_model_path(LARGE_MODEL, fetch=False)
    except ModelUnavailableError:
        figures["large_model"] = "not fetched: empathic setup --model qwen2.5-1.5b"
        return figures
    figures.update({f"large_{k}": v for k, v in _measure(LARGE_MODEL, turns, 1).items()})
    return figures


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(quick="--quick" in sys.argv[1:]), indent=2))
