"""Responder speed on this machine: `run(quick) -> dict` of medians (the lead wires it into `empathic bench`).

Targets from the issue: code appraisal <= 50 ms; embedded model time to first token <= 0.8 s and full reply of
<= 60 tokens <= 2.5 s (measured through Responder.respond, so retrieval, prompt and check are included).
"""

from __future__ import annotations

import statistics
import time

TURNS = (
    "I have a job interview tomorrow and I'm really nervous.",
    "My dog died yesterday and the house feels so empty.",
    "I finally got the promotion I was hoping for!",
    "My coworker took credit for my project in front of everyone.",
    "How do I change the battery in my smoke detector?",
)


def run(quick: bool = False) -> dict[str, float]:
    from agent.appraisal import appraise_by_code
    from agent.backends import make_backend
    from agent.responder import Responder

    turns = TURNS[:2] if quick else TURNS
    timings = []
    for _ in range(20):
        for text in turns:
            started = time.perf_counter()
            appraise_by_code(text)
            timings.append((time.perf_counter() - started) * 1000)
    backend = make_backend("llamacpp")
    responder = Responder(backend)
    responder.respond("Hello there.")  # warm-up: loads the embedding model and the prompt path
    first, full = [], []
    for text in turns * (1 if quick else 2):
        reply = responder.respond(text)
        if reply.first_token_s is not None:
            first.append(reply.first_token_s)
        full.append(reply.latency_s)
    backend.close()
    return {
        "appraisal_code_ms_median": round(statistics.median(timings), 2),
        "reply_first_token_s_median": round(statistics.median(first), 3) if first else float("nan"),
        "reply_full_s_median": round(statistics.median(full), 3),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick=True), indent=2))
