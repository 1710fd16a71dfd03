"""Choose agent.openers.OPENER_MIN_INTENSITY on EmpatheticDialogues *train* situations (never on the valid
conversations the reply figures come from).

    python -m training.fit_opener_gate [--limit 3000] [--seed 0]

For each situation the code appraisal (the shipped text model, the cause finder off: the tone does not depend on
it) picks an opener; the reply scorer judges the opener alone against the gold emotion: does it voice a reaction
that fits (emotional reaction), and does it keep the valence (no sorrow to good news, no cheer to distress)? For
each candidate threshold it prints the share of turns that get an opener, how many of those are right, and the
net gain: right reactions minus twice the tone errors (a wrong tone hurts a reader more than a missing one helps).
The threshold with the best net gain whose tone-error rate over all turns stays at or below MAX_TONE_ERRORS wins.

It also prints how the appraisal reads the same situations' polarity (what an opener's tone rests on): emotion
accuracy, distress read as joy, joy read as distress.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import random
import sys

from agent.appraisal import NEGATIVE_EMOTIONS, appraise_with_notes, load_text_emotion
from agent.contracts import Appraisal
from agent.openers import reaction_opener
from agent.reply_check import valence_consistent
from evaluation.evaluate_responses import data_dir
from evaluation.reply_scores import emotional_reaction

THRESHOLDS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5)
MAX_TONE_ERRORS = 0.05  # at most 5% of all turns may get an opener of the wrong tone
WRONG_TONE_COST = 2.0


def load_situations(limit: int, seed: int) -> list[tuple[str, str]]:
    root = data_dir()
    label_map = json.loads((root / "label_map_7class.json").read_text())["empathetic_dialogues_approx"]
    with (root / "empathetic_dialogues" / "situations_train.csv").open(newline="") as handle:
        rows = [(r["situation"].strip(), label_map[r["emotion"]]) for r in csv.DictReader(handle)
                if r["emotion"] in label_map and r["situation"].strip()]
    random.Random(seed).shuffle(rows)
    return rows[:limit]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.fit_opener_gate", description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=3000, help="ED train situations to read")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    text_emotion, note = load_text_emotion("auto")
    print(f"text emotion: {note}", file=sys.stderr)
    rows = []
    right_emotion = distress_as_joy = joy_as_distress = 0
    for text, gold in load_situations(args.limit, args.seed):
        appraisal, _ = appraise_with_notes(text, text_emotion=text_emotion)
        right_emotion += appraisal.emotion == gold
        distress_as_joy += gold in NEGATIVE_EMOTIONS and appraisal.emotion == "joy"
        joy_as_distress += gold == "joy" and appraisal.emotion in NEGATIVE_EMOTIONS
        # the opener as if no gate were set: the thresholds below are what is being chosen
        opener = reaction_opener(dataclasses.replace(appraisal, intensity=1.0), text)
        truth = Appraisal(emotion=gold, intensity=appraisal.intensity, cause="",
                          need="celebration" if gold == "joy" else appraisal.need)
        rows.append((appraisal.intensity, bool(opener), bool(opener) and emotional_reaction(opener, truth),
                     bool(opener) and not valence_consistent(opener, truth)))
    n = len(rows)
    print(f"{n} ED train situations (seed {args.seed}): emotion right {right_emotion / n:.3f}, distress read as joy "
          f"{distress_as_joy}, joy read as distress {joy_as_distress}")
    print("threshold  opener  right  wrong tone  net gain")
    best: tuple[float, float] | None = None
    for threshold in THRESHOLDS:
        kept = [r for r in rows if r[1] and r[0] >= threshold]
        right = sum(r[2] for r in kept) / n
        wrong = sum(r[3] for r in kept) / n
        gain = right - WRONG_TONE_COST * wrong
        print(f"{threshold:9.2f}  {len(kept) / n:6.3f}  {right:5.3f}  {wrong:10.3f}  {gain:8.3f}")
        if wrong <= MAX_TONE_ERRORS and (best is None or gain > best[1]):
            best = (threshold, gain)
    if best is None:
        print("no threshold keeps the tone errors within bounds: use no openers")
        return 1
    print(f"chosen OPENER_MIN_INTENSITY = {best[0]} (net gain {best[1]:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
