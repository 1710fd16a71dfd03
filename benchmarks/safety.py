"""Safety check speed on this machine: `run(quick) -> dict` of medians, target <= 20 ms per message.

Measured through Responder.assess_safety (the keyword rules and the semantic crisis detector: windows, MiniLM
embedding, scoring), one message at a time as a live turn would be, after one warm-up call that loads the model.
Short turns and a long post (~330 words, 7 windows) are timed apart: a long message costs more windows.
"""

from __future__ import annotations

import statistics
import time

SHORT_TURNS = (
    "I have a job interview tomorrow and I'm really nervous.",
    "My sister died last month and I can't stop crying.",
    "I don't think I can keep going like this.",
    "my friend says she wants to die",
    "I finally got the promotion I was hoping for!",
)
LONG_TURN = " ".join([
    "Work has been hard for months and I stay late every night.", "My flat is a mess and I barely eat.",
    "I tried talking to my brother but he told me to take a holiday.", "I used to love running and now I can't.",
] * 6 + ["Lately I have started to wonder whether anyone would notice if I was gone."])


def run(quick: bool = False) -> dict[str, float]:
    import torch

    from agent.crisis_detector import chunks
    from agent.responder import Responder

    torch.set_num_threads(1)
    responder = Responder(None)
    started = time.perf_counter()
    warm = responder.assess_safety("Hello there.")  # loads the encoder and the weights
    load_s = time.perf_counter() - started
    if warm.status:
        raise RuntimeError(warm.status[0])
    repeats = 3 if quick else 20
    short, long = [], []
    for _ in range(repeats):
        for text in SHORT_TURNS:
            started = time.perf_counter()
            responder.assess_safety(text)
            short.append((time.perf_counter() - started) * 1000)
    for _ in range(max(3, repeats // 4)):
        started = time.perf_counter()
        responder.assess_safety(LONG_TURN)
        long.append((time.perf_counter() - started) * 1000)
    return {
        "safety_ms_per_message_median": round(statistics.median(short), 2),
        "safety_ms_per_message_p90": round(sorted(short)[int(0.9 * (len(short) - 1))], 2),
        "safety_long_message_ms_median": round(statistics.median(long), 2),
        "safety_long_message_words": len(LONG_TURN.split()),
        "safety_long_message_windows": len(chunks(LONG_TURN)),
        "safety_load_s": round(load_s, 2),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick=True), indent=2))
