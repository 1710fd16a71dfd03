"""Is a reply about what the person said? Content words, a crude stem, and the question that strays.

Shared by the reply check (agent/reply_check.py refuses an off-topic question) and the evaluator
(evaluation/reply_scores.py measures relevance). Deliberately lexical: it is fast, deterministic and explainable
("asks about 'job', which the person never mentioned"); evaluation/data/reply_labels.jsonl measures how often it
agrees with a human reader.
"""

from __future__ import annotations

import re

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

# Words any caring reply may use without being about anything in particular ("How are you feeling about it?").
GENERIC_WORDS = frozenset("""
feel feeling feelings felt going doing holding hold happen happened happening part hardest hard best worst
thing things now today right time moment way lot mind like sounds sound think thought know talk tell share
sharing hear heard okay ok good great bad sorry glad happy sad tough rough difficult really just want wanted
need needed help make made get got take taking plan plans next still yet ever much many little bit kind sort
say said mean meant look looking come coming try trying hope hoping deal dealing handle handling cope coping
manage managing people someone anyone everyone anything something everything nothing reason reasons idea
experience situation news whole day days week weeks year years since long wow oh yes yeah hmm guess well sure
relationship life thoughts reaction side end favorite favourite
""".split())
WORD = re.compile(r"[a-z][a-z']+")
SUFFIXES = ("ingly", "edly", "ings", "ing", "ies", "ied", "ers", "est", "ed", "er", "es", "ly", "s")


def stem(word: str) -> str:
    """A crude suffix stripper: 'moving' and 'move', 'packed' and 'packing' meet; good enough for overlap."""
    word = word.replace("'", "")
    for suffix in SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word.rstrip("e")[:6]


def content_stems(text: str, *, drop_generic: bool = True) -> set[str]:
    """Stems of the words that carry content: no stop words, no words any reply may use (when drop_generic)."""
    words = WORD.findall(text.lower().replace("’", "'"))
    keep = [w for w in words if w not in ENGLISH_STOP_WORDS and len(w) > 2 and not w.endswith("n't")
            and not (drop_generic and w in GENERIC_WORDS)]
    return {stem(w) for w in keep}


def shared_content(reply: str, said: str) -> set[str]:
    """The content stems a reply shares with the person's words."""
    return content_stems(reply) & content_stems(said, drop_generic=False)


YOUR_THING = re.compile(r"\byour (?:own |new |old |whole )?([a-z]+)", re.I)
FAMILY_STEMS = frozenset(stem(w) for w in "mom mum mother dad father parents sister brother wife husband son daughter "
                         "kids children child baby grandma grandpa grandmother grandfather aunt uncle cousin".split())
MIN_STRAY_WORDS = 3  # a question with this many content words, none of them the person's, has left their topic


def off_topic_question(reply: str, said: str) -> str | None:
    """A question in the reply that asks about something the person never mentioned: "your <thing>" where the
    person never named the thing ("What's the hardest part of your job?" to someone moving house), or several
    content words none of which the person used. Returns the question, or None. "How are you holding up?" is
    generic, and "What will you do first in the new role?" to "I got the job" is close enough: neither counts."""
    said_stems = content_stems(said, drop_generic=False)
    for question in re.findall(r"[^.!?]*\?", reply):
        for match in YOUR_THING.finditer(question):
            word = match.group(1).lower()
            if word == "family" and said_stems & FAMILY_STEMS:
                continue
            if word not in GENERIC_WORDS and word not in ENGLISH_STOP_WORDS and stem(word) not in said_stems:
                return question.strip()
        own = content_stems(question)
        if len(own) >= MIN_STRAY_WORDS and not own & said_stems:
            return question.strip()
    return None
