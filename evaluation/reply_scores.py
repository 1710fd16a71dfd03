"""One reply scored the way a careful reader would: `score_reply(reply, said, appraisal, route) -> ReplyScores`.

The three empathy mechanisms follow EPITOME (Sharma et al., 2020, "A Computational Approach to Understanding
Empathy Expressed in Text-Based Mental Health Support"), defined here for one short reply, each a yes/no:

- **Emotional reaction**: the listener voices its own warmth, concern, sympathy or shared joy in words
  ("I'm so sorry", "oh no", "that's awful", "how exciting", "congratulations", "that sounds scary") AND the
  words fit the person's situation: a reaction of negative tone (sorrow, concern) to distress, of positive tone
  (joy, pride) to good news, any to neutral or surprising news. A bare acknowledgement ("I see", "thanks for
  sharing") is not a reaction; a reaction of the wrong tone counts as none (and fails valence consistency).
- **Interpretation**: the listener shows it understood the feeling or the experience behind the words: an
  inference ("it sounds like...", "you must be...", "that must have been...", "I can imagine...", "no wonder",
  "it makes sense that...") or a restatement in the second person of something the person said ("you finally
  told your dad", sharing a content word with their words outside a question).
- **Exploration**: the listener asks about the person's experience: a question addressed to them ("you", "your")
  or about something they mentioned; open or closed. A question about a topic the person never raised is not
  exploration: it is an off-topic question (counted apart).

And the plain failures a reader notices:
- **valence consistent**: no condolence to good news, no cheer to distress (agent.reply_check.valence_consistent,
  judged against the appraisal given: pass the gold one to judge against truth);
- **relevant**: the reply shares at least one content word with the person's words (agent.topic; generic words
  like "feel" or "hard" do not count); **off-topic question**: a question whose content words the person never used;
- **invented**: a person ("your son"), a proper name, or a number the person never mentioned, or a life of the
  listener's own (agent.reply_check's rules);
- **length** in words, **cut off** (no sentence end), **loop** (agent.reply_check.has_loop), **route**.

evaluation/data/reply_labels.jsonl holds a reader's labels of the same things for 60 replies (human listeners of
EmpatheticDialogues valid and the embedded model); `python -m evaluation.reply_scores` prints how often this module
agrees with them (accuracy and Cohen's kappa per measure).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from agent.contracts import Appraisal
from agent.reply_check import (
    SELF_STORY,
    SENTENCE_END,
    has_loop,
    invented_person,
    is_distress,
    is_good_news,
    sentences,
    valence_consistent,
)
from agent.topic import FAMILY_STEMS, content_stems, off_topic_question, shared_content

LABELS_PATH = Path(__file__).parent / "data" / "reply_labels.jsonl"
MEASURES = ("emotional_reaction", "interpretation", "exploration", "valence_consistent", "relevant", "invented")

NEGATIVE_REACTION = re.compile(
    r"\b(sorry|oh no|oh dear|oh man|oh wow|ugh|yikes|ouch|how (awful|terrible|sad|scary|frustrating|horrible|"
    r"unfair|rude|annoying|upsetting|embarrassing|disappointing|stressful)|that'?s (so |really |just )?(awful|"
    r"terrible|sad|scary|frustrating|horrible|unfair|rude|annoying|upsetting|a shame|too bad|rough|tough|hard|"
    r"heartbreaking|not (fair|okay|ok|cool|right|good)|unacceptable|disappointing|stressful|gross|disgusting|"
    r"crazy|scary)|what a (shame|pity|nightmare|bummer|jerk)|(sounds|seems|must be|must have been|must feel) "
    r"(so |really |very |incredibly )?(awful|terrible|sad|scary|frightening|frustrating|horrible|hard|tough|"
    r"difficult|painful|upsetting|stressful|rough|lonely|disappointing|heartbreaking|unfair|nerve-?wracking|"
    r"overwhelming|annoying|infuriating|gross|exhausting|devastating)|i hope (you|she|he|they|it|things|everything)|"
    r"my (condolences|sympathies|heart goes out)|that sucks|bummer|poor (thing|you|guy|girl|dog|cat)|"
    r"hang in there|sending|i can'?t imagine|i can only imagine|heartbreaking|so unfair|yuck|ew+|gross|"
    r"(that'?s|how) unfortunate|nerve-?wracking)\b", re.I)
POSITIVE_REACTION = re.compile(
    r"\b(congrat\w*|yay|hooray|woo+hoo|wow|awesome|amazing|wonderful|fantastic|great|lovely|exciting|"
    r"how (exciting|wonderful|fun|lovely|nice|cool|sweet)|that'?s (so |really )?(nice|cool|sweet|good|fun|"
    r"neat|impressive)|(i'?m|so) (glad|happy)|glad to hear|good for you|well done|nice|cool|proud|lucky|"
    r"good luck|best of luck|what a (treat|relief|joy|blessing)|sounds (like )?(fun|nice|good|great)|brilliant|"
    r"sweet)\b", re.I)
NEUTRAL_REACTION = re.compile(r"\b(wow|oh wow|whoa|no way|really\?|seriously|what a surprise|how surprising|"
                              r"that'?s (so |really )?(surprising|interesting|crazy|wild|unexpected))\b", re.I)
INTERPRETATION = re.compile(
    r"\b(it (sounds|seems|looks) like|(that|this|it) (sounds|seems) (like )?(it was |it'?s )?|you (must|might|"
    r"probably) (be|have|feel|felt)|you'?re (probably|likely|clearly|understandably)|that must (be|have|feel)|"
    r"must (be|have been|feel) (so |really |very )?\w+ (for you|to)|i can (imagine|see|tell|understand|only imagine)|"
    r"i understand|i hear you|no wonder|it makes sense|(that'?s|it'?s) (understandable|natural|normal) to|"
    r"anyone would|of course you|you (really )?(care|cared|love|loved)|you feel|you felt|you'?re feeling|"
    r"you were feeling|you seem)\b", re.I)
ADDRESSED = re.compile(r"\b(you|your|yours|yourself)\b", re.I)
PROPER_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b([A-Z][a-z]{2,})\b")
NAME_EXCEPTIONS = frozenset({"I", "I'm", "I've", "I'd", "I'll", "God", "Christmas", "Monday", "Tuesday", "Wednesday",
                             "Thursday", "Friday", "Saturday", "Sunday", "English", "Mom", "Dad", "Mum"})
# the listener telling a life of its own, or speaking as if it were the person ("I'm such a huge help")
OWN_LIFE = re.compile(
    r"\b(i'?m (such|a|an|not|really not) |i am (such|a|an) |i (have|had|'ve) (never|always|been|heard|seen|a|an) |"
    r"i (never|used to|went|did|was|could help)\b|(it )?happened to me|me too\b)", re.I)
YOUR_FAMILY = re.compile(r"\byour (family|loved ones|crew|friends|children|kids)\b", re.I)
VAGUE_QUESTION = re.compile(r"^\W*(how|what) about you\W*$", re.I)
RELEVANT_COSINE = 0.3  # MiniLM cosine of reply and words at or above which a reader calls the reply on topic
NUMBER = re.compile(r"\b\d+\b|\b(two|three|four|five|six|seven|eight|nine|ten|twenty|hundred)\b", re.I)


@dataclass(frozen=True)
class ReplyScores:
    emotional_reaction: bool
    interpretation: bool
    exploration: bool
    valence_consistent: bool
    relevant: bool
    off_topic_question: bool
    invented: bool
    invented_what: str  # what was invented, in words ("" when nothing)
    words: int
    cut_off: bool
    loop: bool
    route: str


def emotional_reaction(reply: str, appraisal: Appraisal) -> bool:
    """A reaction in words whose tone fits the appraisal (see the module docstring)."""
    negative, positive = NEGATIVE_REACTION.search(reply), POSITIVE_REACTION.search(reply)
    if is_good_news(appraisal):
        # "I'm sorry" to good news is no reaction; "good luck" or "wow" is
        return bool(positive) and not negative
    if is_distress(appraisal):
        return bool(negative) and valence_consistent(reply, appraisal)
    return bool(negative or positive or NEUTRAL_REACTION.search(reply))


def interpretation(reply: str, said: str) -> bool:
    if INTERPRETATION.search(reply):
        return True
    # a second-person restatement of their own words, outside a question
    for sentence in sentences(reply):
        if not sentence.rstrip("\"')").endswith("?") and ADDRESSED.search(sentence) and shared_content(sentence, said):
            return True
    return False


def exploration(reply: str, said: str) -> bool:
    """Any question that stays on the person's topic, bar a bare "How about you?"."""
    for question in re.findall(r"[^.!?;]*\?", reply):
        if off_topic_question(question, said) or VAGUE_QUESTION.match(question) or len(question.split()) < 2:
            continue
        return True
    return False


def invented(reply: str, said: str) -> str:
    """What the reply invents, in words; "" when nothing."""
    if person := invented_person(reply, said):
        return f"your {person}"
    said_lower = said.lower()
    match: re.Match[str] | None
    for match in PROPER_NAME.finditer(reply):
        name = match.group(1)
        if name not in NAME_EXCEPTIONS and name.lower() not in said_lower:
            return name
    said_numbers = {m.group(0).lower() for m in NUMBER.finditer(said)}
    for match in NUMBER.finditer(reply):
        if match.group(0).lower() not in said_numbers:
            return match.group(0)
    if match := SELF_STORY.search(reply) or OWN_LIFE.search(reply):
        return f"a life of its own ({match.group(0).strip()})"
    if (match := YOUR_FAMILY.search(reply)) and not content_stems(said, drop_generic=False) & FAMILY_STEMS \
            and match.group(1).lower() not in said_lower:
        return match.group(0)
    return ""


def score_reply(reply: str, said: str, appraisal: Appraisal, route: str = "generated",
                similarity: float | None = None) -> ReplyScores:
    """Score `reply` to the person's words `said` (all their turns, joined) under `appraisal`. `similarity`: the
    MiniLM cosine of reply and words (see similarities()); without it relevance is by shared words alone."""
    text = reply.strip()
    what = invented(text, said)
    return ReplyScores(
        emotional_reaction=emotional_reaction(text, appraisal),
        interpretation=interpretation(text, said),
        exploration=exploration(text, said),
        valence_consistent=valence_consistent(text, appraisal),
        relevant=bool(shared_content(text, said)) or (similarity is not None and similarity >= RELEVANT_COSINE),
        off_topic_question=off_topic_question(text, said) is not None,
        invented=bool(what),
        invented_what=what,
        words=len(text.split()),
        cut_off=bool(text) and not SENTENCE_END.search(text),
        loop=has_loop(text),
        route=route,
    )


def similarities(replies: list[str], saids: list[str]) -> list[float] | None:
    """MiniLM cosine of each reply with its words (the project's own embedding model); None when it cannot load."""
    try:
        from agent.exemplars import MiniLMEmbedder

        embedder = MiniLMEmbedder()
    except Exception:  # the package is missing: relevance falls back to shared words, and the report says so
        return None
    a, b = embedder.embed(replies), embedder.embed(saids)
    return [float(x) for x in (a * b).sum(axis=1)]


def rates(scores: list[ReplyScores]) -> dict[str, float]:
    """The share of replies with each yes/no measure, mean length, and counts of cut-off and loops."""
    n = len(scores)
    if n == 0:
        return {"n": 0}
    out: dict[str, float] = {"n": n}
    for field in ("emotional_reaction", "interpretation", "exploration", "valence_consistent", "relevant",
                  "off_topic_question", "invented"):
        out[field] = round(sum(getattr(s, field) for s in scores) / n, 3)
    out["mean_words"] = round(sum(s.words for s in scores) / n, 1)
    out["words_12_to_30"] = round(sum(12 <= s.words <= 30 for s in scores) / n, 3)
    out["cut_off"] = sum(s.cut_off for s in scores)
    out["loops"] = sum(s.loop for s in scores)
    return out


def agreement(labels_path: Path = LABELS_PATH) -> dict[str, dict[str, float]]:
    """Accuracy and Cohen's kappa of score_reply against the committed reader labels, per measure."""
    from sklearn.metrics import cohen_kappa_score

    rows = [json.loads(line) for line in labels_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    cosines: Sequence[float | None] = (similarities([row["reply"] for row in rows], [row["said"] for row in rows])
                                       or [None] * len(rows))
    predicted: dict[str, list[bool]] = {m: [] for m in MEASURES}
    gold: dict[str, list[bool]] = {m: [] for m in MEASURES}
    for row, cosine in zip(rows, cosines):
        appraisal = Appraisal(emotion=row["emotion"], intensity=0.5, cause="", need=row["need"])
        scores = asdict(score_reply(row["reply"], row["said"], appraisal, similarity=cosine))
        for measure in MEASURES:
            predicted[measure].append(bool(scores[measure]))
            gold[measure].append(bool(row["labels"][measure]))
    report = {}
    for measure in MEASURES:
        p, g = predicted[measure], gold[measure]
        agree = sum(a == b for a, b in zip(p, g)) / len(g)
        kappa = cohen_kappa_score(g, p) if len(set(g)) > 1 or len(set(p)) > 1 else 1.0
        report[measure] = {"n": len(g), "accuracy": round(agree, 3), "kappa": round(float(kappa), 3),
                           "reader_rate": round(sum(g) / len(g), 3), "scorer_rate": round(sum(p) / len(p), 3)}
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.reply_scores",
                                     description="agreement of the reply scorer with a reader's labels")
    parser.add_argument("--labels", type=Path, default=LABELS_PATH)
    args = parser.parse_args(argv)
    if not args.labels.is_file():
        print(f"{args.labels}: no such labels file", file=sys.stderr)
        return 2
    print(json.dumps(agreement(args.labels), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
