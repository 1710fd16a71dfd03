"""The reply's first words, written from the appraisal: a short emotional reaction in the emotion's tone.

    reaction_opener(appraisal, said="My dog died.", history=()) -> "I'm so sorry."

Why in code: the embedded models ask good questions but seldom voice warmth in words that fit (the reply scorer
found an emotional reaction in well under half of their replies), while the appraisal (EBG stage 1) already knows
the emotion. The responder hands the opener to the model as the start of its own turn, and the model continues
from it (llama.cpp's assistant prefill, transformers' continue_final_message), so the rest of the reply follows
the reaction instead of repeating or contradicting it, and the person sees the first words at once.

No opener, and the model writes the whole reply, where a wrong tone would hurt more than no reaction helps:
neutral and surprised readings (they have no tone of their own), words of loss or harm read as joy (mixed
signals), and readings whose intensity is below OPENER_MIN_INTENSITY. That threshold was chosen on
EmpatheticDialogues *train* situations (`python -m training.fit_opener_gate`), never on the valid conversations
the reply figures are measured on: no threshold above 0 improved the balance of fitting reactions against wrong
tones there, so every reading with a tone gets its opener.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

from agent.contracts import Appraisal
from agent.reply_check import DISTRESS_CUES, names_a_loss

# Below this appraisal intensity the emotion is too unsure to voice (see the module docstring: the fit chose 0).
OPENER_MIN_INTENSITY = 0.0

# A few wordings per tone so that a conversation does not hear the same words every turn; each is a whole sentence.
OPENERS: dict[str, tuple[str, ...]] = {
    "loss": ("I'm so sorry.", "I'm so sorry to hear that."),
    "sadness": ("Oh no, that sounds really hard.", "That sounds so hard.", "I'm sorry, that sounds really painful."),
    "anger": ("That sounds so frustrating.", "Ugh, how frustrating.", "That sounds really unfair."),
    "disgust": ("Ugh, that sounds awful.", "Yuck, that sounds really gross."),
    "fear": ("That sounds really stressful.", "Oh no, that sounds scary.", "That sounds nerve-wracking."),
    # no "congratulations": joy is often not an achievement ("my mom came to visit me")
    "joy": ("That's lovely!", "How lovely!", "That sounds wonderful!"),
    "celebration": ("That's wonderful news!", "How exciting!", "That sounds great!"),
}


# A sentence that is nothing but a reaction: "I'm sorry to hear that.", "That's great!", "Oh no!"
REACTION_ONLY = re.compile(
    r"^(oh( no| wow| dear)?,? ?)?((i'?m|i am) (so |really |very )?(sorry|glad|happy)( to hear (that|this|about that))?"
    r"( for you)?|that'?s (so |really )?(great|wonderful|awesome|amazing|terrible|awful|sad|too bad|hard|tough)"
    r"( news| to hear)?|(that|it) sounds? (so |really )?(hard|tough|awful|terrible|great|wonderful|frustrating|"
    r"stressful|scary)|congratulations|how (sad|awful|exciting|wonderful)|wow|oh no)[.!]$", re.I)


def is_opener(text: str) -> bool:
    """Whether `text` is one of the openers (a UI may show it at once: the final reply always starts with it)."""
    return any(text == opener for wordings in OPENERS.values() for opener in wordings)


def opener_tone(appraisal: Appraisal, said: str = "") -> str | None:
    """The key into OPENERS for this appraisal, or None when no tone should be voiced."""
    if appraisal.intensity < OPENER_MIN_INTENSITY or appraisal.emotion in ("neutral", "surprise"):
        return None
    joyful = appraisal.emotion == "joy" or appraisal.need == "celebration"
    if joyful:
        # a loss told warmly, or good news after a hard time: the templates' mixed-signals case, no tone at all
        return None if said and DISTRESS_CUES.search(said) else (
            "celebration" if appraisal.need == "celebration" else "joy")
    if appraisal.emotion == "sadness" and said and names_a_loss(said):
        return "loss"
    return appraisal.emotion if appraisal.emotion in OPENERS else None


def reaction_opener(appraisal: Appraisal, said: str = "", history: Sequence[tuple[str, str]] = ()) -> str:
    """The opener for this turn ("" for none). Deterministic (replay repeats it), picked by the person's words
    among the tone's wordings, and never the wording the agent's last turn began with."""
    tone = opener_tone(appraisal, said)
    if tone is None:
        return ""
    choices = OPENERS[tone]
    last = next((content for role, content in reversed(history) if role == "assistant"), "")
    fresh = [c for c in choices if not last.startswith(c)] or list(choices)
    return fresh[zlib.crc32(said.encode("utf-8")) % len(fresh)]


def without_repeated_reaction(opener: str, continuation: str) -> str:
    """The model's continuation, capitalised, without a first sentence that only says the opener again in other
    words ("I'm so sorry." followed by "I'm sorry to hear that."): read together they sound like a stammer."""
    text = continuation.strip()
    end = re.search(r"[.!?](\s+|$)", text)
    if opener and end and text[end.end():].strip() and REACTION_ONLY.match(text[:end.end()].strip()):
        text = text[end.end():].strip()
    # it starts a sentence after the opener's full stop ("How exciting! that's a great way" otherwise)
    return text[:1].upper() + text[1:]
