"""The safe reply built from the appraisal alone: used only when generation failed twice or the backend failed.

Each template fits its need by construction (no advice to someone who wants to be heard, no condolence to good
news) and names the cause in the user's own words turned to the second person ("my dog died" -> "your dog died").
tests/agent/test_templates.py runs every template through the reply check.
"""

from __future__ import annotations

import re

from agent.contracts import Appraisal

MAX_CAUSE_WORDS = 18  # a longer cause reads badly inside a template: leave it out
MIN_CAUSE_WORDS = 4  # "wow" or "I'm furious" names a feeling, not a cause
LEADING_FILLER = re.compile(r"^(wow|ew|ugh|oh|well|so|and|but|turns out|out of the blue|what if|guess what)\b[,!.]?\s*",
                            re.I)

# Word-level first -> second person; two-word forms first so "I am" becomes "you are", not "you am".
PRONOUN_PAIRS: tuple[tuple[str, str], ...] = (
    (r"\bI am\b", "you are"), (r"\bI was\b", "you were"), (r"\bI'm\b", "you're"), (r"\bIm\b", "you're"),
    (r"\bI've\b", "you've"), (r"\bI'll\b", "you'll"), (r"\bI'd\b", "you'd"), (r"\bI\b(?!\.\w)", "you"),
    (r"\bmyself\b", "yourself"), (r"\bmy\b", "your"), (r"\bmine\b", "yours"), (r"\bme\b", "you"),
    (r"\bwe're\b", "you're"), (r"\bwe\b", "you"), (r"\bour\b", "your"), (r"\bus\b", "you"),
)

TEMPLATES: dict[str, dict[str, tuple[str, str]]] = {
    # need -> emotion (or "*") -> (with cause, without cause). Every template but the neutral and surprise ones has an
    # emotional reaction in the emotion's tone ("how frustrating", "I'm so sorry"): a template that only restated
    # the words and asked read as cold (the reply scorer found no emotional reaction in any template reply).
    "to_be_heard": {
        "anger": ("How frustrating that {cause}. It makes sense to feel angry about that. What happened next?",
                  "That sounds really frustrating, and it makes sense to feel angry. What happened?"),
        "disgust": ("It sounds like {cause}, and that's awful; no wonder it put you off. How are you doing now?",
                    "That sounds awful, and no wonder it put you off. How are you doing now?"),
        "neutral": ("Thanks for telling me that {cause}. How do you feel about it?",
                    "Thanks for sharing that with me. How are you feeling about it?"),
        "joy": ("It sounds like {cause}, and that's lovely to hear. What made it feel so good?",
                "That sounds lovely to hear. What made it feel so good?"),
        # surprise can be good or bad news ("he ran over a child, but she survived"): no tone of its own
        "surprise": ("It sounds like {cause}, and that's a lot to take in. How are you taking it?",
                     "That sounds like a lot to take in. How are you taking it?"),
        "*": ("It sounds like {cause}, and that must be really hard. I'm listening. What has been the hardest part?",
              "That sounds really hard, and it's a lot to carry. I'm listening. What has been the hardest part?"),
    },
    "reassurance": {
        "*": ("That sounds really stressful; it makes sense to feel uneasy when {cause}. What worries you most "
              "right now?",
              "That sounds really stressful, and it makes sense to feel uneasy. What worries you most right now?"),
    },
    "information": {
        "anger": ("That sounds frustrating, and it's fair to want answers. Could you tell me a bit more about "
                  "what you need to know?", ""),
        "sadness": ("That sounds hard, and it's good that you're reaching out. Could you tell me a bit more about "
                    "what you need to know?", ""),
        "fear": ("That sounds stressful, and it makes sense to want to know more. Could you tell me a bit more "
                 "about what you need to know?", ""),
        "*": ("That's a fair question, and I want to get it right. Could you tell me a bit more about what you need "
              "to know?", ""),
    },
    "celebration": {
        "*": ("That sounds wonderful: {cause}! What are you most looking forward to now?",
              "That sounds like wonderful news! What are you most looking forward to now?"),
    },
}

# What follows an opener already shown (agent/openers.py) when the model's attempts failed: the template without
# its own reaction, keeping the person's words where they fit ({Cause}: the cause turned to the second person, as
# the start of a sentence). Same keys as TEMPLATES.
AFTER_OPENER: dict[str, dict[str, tuple[str, str]]] = {
    "to_be_heard": {
        "anger": ("{Cause}, and it makes sense to feel angry about that. What happened next?",
                  "It makes sense to feel angry about that. What happened next?"),
        "disgust": ("{Cause}; no wonder it put you off. How are you doing now?",
                    "No wonder it put you off. How are you doing now?"),
        "joy": ("{Cause}: what made it feel so good?", "What made it feel so good?"),
        "*": ("{Cause}, and that's a lot to carry. What has been the hardest part?",
              "I'm listening. What has been the hardest part?"),
    },
    "reassurance": {
        "*": ("It makes sense to feel uneasy when {cause}. What worries you most right now?",
              "It makes sense to feel uneasy. What worries you most right now?"),
    },
    "information": {
        "*": ("Could you tell me a bit more about what you need to know?", ""),
    },
    "celebration": {
        "*": ("{Cause}! What are you most looking forward to now?", "What are you most looking forward to now?"),
    },
}
LOSS_AFTER_OPENER = ("It sounds like {cause}, and that's a lot to carry. What has been the hardest part?",
                     "I'm listening. What has been the hardest part?")

LOSS_TEMPLATE = ("I'm so sorry. It sounds like {cause}, and that's a lot to carry. What has been the hardest part?",
                 "I'm so sorry, that sounds like a lot to carry. I'm listening. What has been the hardest part?")
MIXED_SIGNALS_REPLY = "That sounds like a lot to take in. I'm listening. How are you feeling about it now?"


def second_person(words: str) -> str:
    """The user's words as the listener would say them back: "I lost my job" -> "you lost your job"."""
    turned = words
    placeholders: list[str] = []
    for pattern, replacement in PRONOUN_PAIRS:
        def hold(match: re.Match, replacement: str = replacement) -> str:
            placeholders.append(replacement)
            return f"\x00{len(placeholders) - 1}\x00"
        # case-blind: typed and transcribed text often has a lower-case "i" ("i cheated"); not "i.e."
        turned = re.sub(pattern, hold, turned, flags=re.I)
    turned = re.sub(r"\x00(\d+)\x00", lambda m: placeholders[int(m.group(1))], turned)
    turned = turned.strip().rstrip(" .!?;,")
    return turned[:1].lower() + turned[1:] if turned[:2] != "I " else turned


def template_reply(appraisal: Appraisal, said: str = "", opener: str = "") -> str:
    """The safe reply for this appraisal; never empty. When the person's words (`said`) speak of a loss or harm,
    the celebration and joy templates are never used, whatever the appraisal read: a plain listening one without
    any tone is; sadness over a named loss is met with sorrow, other sadness with "that must be really hard".

    `opener`: the reaction already shown to the person (agent/openers.py) when the model's attempts failed the
    check; the reply starts with it and goes on without a reaction of its own (AFTER_OPENER), so that no word on
    screen is taken back."""
    from agent.reply_check import DISTRESS_CUES, names_a_loss

    if said and DISTRESS_CUES.search(said) and (appraisal.need == "celebration" or appraisal.emotion == "joy"):
        # the words and the appraisal disagree (a loss told warmly, good news after a hard time): no tone at all
        return MIXED_SIGNALS_REPLY
    loss = bool(said) and names_a_loss(said) and appraisal.emotion == "sadness" and appraisal.need == "to_be_heard"
    table = AFTER_OPENER if opener else TEMPLATES
    if loss:
        # sorrow is said once a loss is named; before that "that must be hard" presumes less
        with_cause, without_cause = LOSS_AFTER_OPENER if opener else LOSS_TEMPLATE
    else:
        by_emotion = table[appraisal.need]
        with_cause, without_cause = by_emotion.get(appraisal.emotion, by_emotion["*"])
    # only the person's own words turn into "you ...": a cause the agent said would read as theirs
    own = appraisal.cause if appraisal.cause_speaker == "user" else ""
    # a cause that runs over a sentence end ("the team is being restructured. I'm shocked") keeps its first
    # sentence: inside a template the rest would read as a stray lower-case sentence
    own = re.split(r"(?<=[.!?])\s+", own.strip(), maxsplit=1)[0] if own else ""
    cause = second_person(LEADING_FILLER.sub("", own)) if own else ""
    names_cause = "{cause}" in with_cause or "{Cause}" in with_cause  # {Cause}: the cause starting a sentence
    if MIN_CAUSE_WORDS <= len(cause.split()) <= MAX_CAUSE_WORDS and names_cause:
        reply = with_cause.format(cause=cause, Cause=cause[:1].upper() + cause[1:])
    else:
        reply = without_cause or with_cause
    return f"{opener} {reply}" if opener else reply
