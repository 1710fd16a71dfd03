"""Cause finding speed: ms per turn for the trained finder (agent/cause_finder.py) and the whole code appraisal with
it, against the rules alone; target from issue 18: <= 20 ms per turn on the 2-core box. The history is long (40
turns) on purpose: the finder reads only its window, so the cost must not grow with the conversation."""

from __future__ import annotations

import statistics
import time

CONVERSATION = (
    ("user", "My sister borrowed my car without asking , again ."),
    ("assistant", "That sounds frustrating . What happened ?"),
    ("user", "She scratched the door and didn't even tell me , I found it this morning ."),
    ("assistant", "Finding it like that must have been a shock . How did you feel ?"),
)
TURNS = (
    ("I'm furious , she never takes responsibility for anything .", "anger"),
    ("Really ? I can't believe she did that !", "surprise"),
    ("I feel so let down , I trusted her with it .", "sadness"),
    ("At least she offered to pay for the repair , which was kind .", "joy"),
)


def _median_ms(work, repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        for item in TURNS:
            started = time.perf_counter()
            work(*item)
            timings.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(timings), 3)


def run(quick: bool = False) -> dict[str, float]:
    started = time.perf_counter()
    from agent.appraisal import appraise_by_code, find_cause
    from agent.cause_finder import CauseFinder

    finder = CauseFinder.load()
    load_s = time.perf_counter() - started
    history = CONVERSATION * 10
    repeats = 5 if quick else 50
    finder.find(*TURNS[0], history)  # warm-up: the hasher and numpy paths
    return {
        "causes_finder_load_s": round(load_s, 3),
        "causes_finder_ms_per_turn_median": _median_ms(lambda t, e: finder.find(t, e, history), repeats),
        "causes_appraisal_with_finder_ms_median": _median_ms(
            lambda t, e: appraise_by_code(t, history=history, cause_finder=finder), repeats),
        "causes_rules_ms_median": _median_ms(lambda t, e: find_cause(t, e), repeats),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick=True), indent=2))
