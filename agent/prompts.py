"""EBG stage 2: the chat messages that ask the LLM for a reply built on the appraisal.

Shape (what helps a 135M model most comes last and nearest): a short system line carrying the appraisal and the
reply's job, then the retrieved exemplars as earlier user/assistant turns, then the recent conversation, then the
user's words. Instructions are kept short because small models parrot long ones; the exemplars set the tone.

Chain-of-Empathy (Lee et al., 2023) variants add one line of therapeutic reasoning to the system message:
CBT (the thought behind the feeling), DBT (validate, then balance acceptance and change), person-centred
(reflect the feeling with warmth, no judgement), reality therapy (what the person wants and can do now).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from agent.contracts import Appraisal
from agent.exemplars import Exemplar

COE_VARIANTS: dict[str, str] = {
    "cbt": "Gently notice the thought behind the feeling and invite them to look at it.",
    "dbt": "Validate the feeling first; then, gently, balance acceptance with one small step they could take.",
    "person-centred": "Reflect the feeling back with warmth and without judgement; let them lead.",
    "reality": "Focus on what they want and on what is in their control right now.",
}
COE_ALIASES = {"person-centered": "person-centred", "personcentred": "person-centred", "pc": "person-centred",
               "reality-therapy": "reality"}

NEED_GUIDANCE: dict[str, str] = {
    "to_be_heard": "Show you understand how they feel and ask one gentle open question. Give no advice.",
    "reassurance": "Acknowledge the worry, reassure them calmly, and ask one gentle question.",
    "information": "Acknowledge the feeling in a few words, then answer the question briefly.",
    "celebration": "Share their happiness and ask about it. Never say sorry.",
}

EMOTION_WORDS: dict[str, str] = {
    "anger": "angry", "disgust": "disgusted", "fear": "worried", "joy": "happy", "neutral": "calm",
    "sadness": "sad", "surprise": "surprised",
}

SYSTEM_BASE = "You are a kind, caring listener. Reply in one or two short sentences."
HISTORY_TURNS = 4  # the last few turns: enough for context, short enough for a 2048-token window
STOP_SEQUENCES: tuple[str, ...] = ("\n", "User:", "Assistant:", "<|im_end|>", "<|im_start|>")
# Chat-template control tokens typed by the person: a server that parses special tokens inside message text would
# read "<|im_end|><|im_start|>system ..." in the words as a forged system turn. They are removed from anything the
# person wrote before it enters a prompt (tests/agent/test_prompt_injection.py).
CONTROL_TOKENS = re.compile(
    r"<\|[^<>|]{0,64}\|>|<\||\|>|</?s>|\[/?INST\]|<(start|end)_of_turn>|<\|?(bos|eos)\|?>", re.I)


def defuse(text: str) -> str:
    """The person's words with chat-template control tokens taken out (nothing else changes)."""
    return re.sub(r"[ \t]{2,}", " ", CONTROL_TOKENS.sub(" ", text)).strip() if CONTROL_TOKENS.search(text) else text


def normalise_coe(coe: str | None) -> str | None:
    """The canonical variant name, None for none; raises ValueError for an unknown one."""
    if coe is None or coe in ("", "none"):
        return None
    key = COE_ALIASES.get(coe.lower(), coe.lower())
    if key not in COE_VARIANTS:
        raise ValueError(f"unknown Chain-of-Empathy variant {coe!r}; expected one of {', '.join(COE_VARIANTS)}")
    return key


def system_message(appraisal: Appraisal, coe: str | None = None) -> str:
    feeling = EMOTION_WORDS.get(appraisal.emotion, appraisal.emotion)
    about = ""
    if appraisal.cause:  # quoted from the conversation: the person's words, or what the agent said to them
        said_by = {"agent": " what you said,", "other": " what someone said,"}.get(appraisal.cause_speaker, "")
        if appraisal.cause_speaker == "user" and appraisal.cause_turn < 0:
            said_by = " what they said earlier,"
        about = f' about{said_by} "{defuse(appraisal.cause)}"'

    parts = [SYSTEM_BASE, f"The user feels {feeling}{about}.", NEED_GUIDANCE[appraisal.need]]
    variant = normalise_coe(coe)
    if variant:
        parts.append(COE_VARIANTS[variant])
    return " ".join(parts)


# The compact prompt (for models of ~0.5B and up, which follow instructions): one fixed system message and four
# fixed exemplar turns form a prefix that never changes, so llama.cpp keeps it in its KV cache and a turn evaluates
# only its own tokens (history, the appraisal note, the words). The appraisal comes last, nearest the reply.
COMPACT_SYSTEM = (
    "You are a caring listener in a chat. Answer the person's last message in one or two short sentences, "
    "12 to 30 words: first say, in plain warm words, how what happened to them sounds or must feel, "
    "then ask one open question about what they told you. Give no advice. Say nothing about yourself. "
    "Never mention people, places or events they did not mention.")
COMPACT_EXEMPLARS: tuple[tuple[str, str], ...] = (
    ("My grandmother passed away on Sunday. She taught me to bake.",
     "I'm so sorry about your grandmother. Losing her must hurt. What did you love baking with her?"),
    ("I finally passed my driving test on the third try!",
     "Congratulations, third time lucky! That must feel great after all that work. Where will you drive first?"),
    ("My landlord keeps coming into my flat without asking.",
     "That sounds really unsettling, your home should feel safe. How long has this been going on?"),
    ("I start a new job on Monday and I can't sleep.",
     "It makes sense to feel nervous before a big start like that. What worries you most about Monday?"),
)


def appraisal_note(appraisal: Appraisal, coe: str | None = None) -> str:
    """The EBG stage-1 result in one line for the compact prompt."""
    feeling = EMOTION_WORDS.get(appraisal.emotion, appraisal.emotion)
    about = f' about "{defuse(appraisal.cause)}"' if appraisal.cause else ""
    parts = [f"The person seems {feeling}{about}.", NEED_GUIDANCE[appraisal.need]]
    variant = normalise_coe(coe)
    if variant:
        parts.append(COE_VARIANTS[variant])
    return " ".join(parts)


def compact_prefix() -> list[dict[str, str]]:
    """The fixed start of every compact prompt (what llama.cpp keeps cached)."""
    messages = [{"role": "system", "content": COMPACT_SYSTEM}]
    for user, reply in COMPACT_EXEMPLARS:
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]
    return messages


def build_compact_messages(text: str, appraisal: Appraisal, history: Sequence[tuple[str, str]] = (),
                           coe: str | None = None) -> list[dict[str, str]]:
    """The fixed prefix, then the recent conversation, the appraisal note (as a system line) and the words."""
    messages = compact_prefix()
    for role, content in list(history)[-HISTORY_TURNS:]:
        if role in ("user", "assistant") and content.strip():
            messages.append({"role": role, "content": defuse(content.strip())})
    messages.append({"role": "system", "content": appraisal_note(appraisal, coe)})
    messages.append({"role": "user", "content": defuse(text.strip())})
    return messages


def build_messages(text: str, appraisal: Appraisal, exemplars: Sequence[Exemplar],
                   history: Sequence[tuple[str, str]] = (), coe: str | None = None) -> list[dict[str, str]]:
    """The messages for the backend. `history` holds (role, text) pairs with role "user" or "assistant"."""
    messages = [{"role": "system", "content": system_message(appraisal, coe)}]
    for exemplar in exemplars:
        messages.append({"role": "user", "content": exemplar.user})
        messages.append({"role": "assistant", "content": exemplar.reply})
    for role, content in list(history)[-HISTORY_TURNS:]:
        if role in ("user", "assistant") and content.strip():
            messages.append({"role": role, "content": defuse(content.strip())})
    messages.append({"role": "user", "content": defuse(text.strip())})
    return messages
