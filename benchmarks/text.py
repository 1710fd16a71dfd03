"""Text emotion speed: `run(quick)` -> milliseconds per utterance, one at a time and batched (median of runs).

Target: <= 15 ms per utterance on the project's 2-core CPU box. Loading the model is not timed.
"""

from __future__ import annotations

import statistics
import time

# Everyday utterances of the lengths people speak in one breath (5-30 words).
UTTERANCES: tuple[str, ...] = (
    "I finally got the job, I can't believe it!",
    "Why does this keep happening to me every single time?",
    "My grandmother passed away last night and I keep thinking about her.",
    "That noise downstairs really scared me, I think someone is in the house.",
    "Okay, let's meet at three then.",
    "Honestly the way they treated you was disgusting and you did not deserve it.",
    "Wait, you're moving to Japan next month? Since when?",
    "I have been so tired lately, work is piling up and I can't sleep, and I don't know who to talk to about it.",
)


def run(quick: bool = False) -> dict[str, float]:
    from perception.text_emotion import TextEmotionModel

    model = TextEmotionModel()
    model.predict_batch(list(UTTERANCES))  # warm-up: first calls pay for lazy init in torch and the tokenizer
    repeats = 3 if quick else 10
    single_ms = []
    # Every timed utterance is new text: the model keeps recent embeddings (for the previous turn), and a repeat
    # would only time that lookup.
    for repeat in range(repeats):
        for text in UTTERANCES:
            text = f"{text} ({repeat})"
            started = time.perf_counter()
            model.predict(text)
            single_ms.append((time.perf_counter() - started) * 1000.0)
    batch_ms = []
    for repeat in range(repeats):
        batch = [f"{text} [{repeat}.{copy}]" for copy in range(4) for text in UTTERANCES]
        started = time.perf_counter()
        model.predict_batch(batch)
        batch_ms.append((time.perf_counter() - started) * 1000.0 / len(batch))
    return {
        "text_emotion_ms_per_utterance_median": round(statistics.median(single_ms), 2),
        "text_emotion_batch_ms_per_utterance": round(statistics.median(batch_ms), 2),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
