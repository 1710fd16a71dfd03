"""What the live panel says, from a session snapshot (ui/session.py's LiveSession.snapshot()), as plain values.

No web framework here: ui/app.py puts these strings and label values into Gradio components, and the tests check
them without a browser. The panel must tell one story:
- the big fused heading shows a label only when the state is sure of it and a reading present now points at it;
  otherwise "not sure" (never a big "fear 78%" at confidence 0.03, never "joy" when the latest words read anger);
- "why" names only modalities that have a reading now;
- agreement or disagreement of words and face/voice is claimed only when both sides have a reading;
- what a modality showed goes when its consent goes (no stale face panel, no stale "Heard" line).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from basics.labels import LABELS, top_label
from fusion.attribution import label_word
from fusion.modalities import BY_NAME, REGISTRY

NOT_SURE = "not sure"
NOT_SURE_BELOW_CONFIDENCE = 0.15  # fused confidence (a noisy-OR of evidence x reliability): below it, a guess
NOT_SURE_BELOW_PROB = 0.35  # a top label holding less than this of the probability is a lean, not a reading
READING_NOT_SURE_BELOW_CONFIDENCE = 0.1  # one modality's own confidence below which its top label is not shown
MODALITY_NAMES: dict[str, str] = {m.name: m.noun for m in REGISTRY}
MODALITY_CONSENT: dict[str, str | None] = {m.name: m.consent for m in REGISTRY}
SUBJECT: dict[str, str] = {m.name: m.subject for m in REGISTRY}
HEARD_SHOWN = 3  # the last few transcripts; older ones are in the conversation


def _confidence(view: Any) -> float:
    return float(getattr(view, "confidence", 0.0) or 0.0) if view is not None else 0.0


def has_reading(view: Any) -> bool:
    return view is not None and _confidence(view) > 0


def reading_is_sure(view: Any) -> bool:
    """A modality's reading says something: it has confidence and its top label stands out."""
    if not has_reading(view) or _confidence(view) < READING_NOT_SURE_BELOW_CONFIDENCE:
        return False
    return float(view.probs.get(top_label(view.probs), 0.0)) >= NOT_SURE_BELOW_PROB


def present_readings(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """The modalities with a reading now: words always may (they are typed or heard), voice and face only while
    their consent is on (a purged modality has no reading, but a revoke racing a refresh must not show one)."""
    consent = snapshot.get("consent", {})
    present = {}
    for modality, view in snapshot["views"].items():
        needed = MODALITY_CONSENT.get(modality)
        if has_reading(view) and (needed is None or consent.get(needed, False)):
            present[modality] = view
    return present


def fused_is_sure(snapshot: Mapping[str, Any]) -> bool:
    """The heading may name the fused label: confident, a clear top label, and a reading present now points at it
    (fusion keeps a fifth of earlier turns; when the latest words read anger, an old "joy" must not head the panel)."""
    state = snapshot["state"]
    if state is None or state.confidence < NOT_SURE_BELOW_CONFIDENCE:
        return False
    if float(state.probs.get(state.label, 0.0)) < NOT_SURE_BELOW_PROB:
        return False
    return any(top_label(view.probs) == state.label for view in present_readings(snapshot).values())


def label_value(view: Any) -> dict[str, float] | str | None:
    """What a gr.Label shows for a reading: the bars, "not sure" for a lean, nothing without a reading."""
    if not has_reading(view):
        return None
    if not reading_is_sure(view):
        return NOT_SURE
    return {label: float(view.probs.get(label, 0.0)) for label in LABELS}


def fused_label_value(snapshot: Mapping[str, Any]) -> dict[str, float] | str | None:
    state = snapshot["state"]
    if state is None or (state.confidence <= 0 and not present_readings(snapshot)):
        return None
    if not fused_is_sure(snapshot):
        return NOT_SURE
    return {label: float(state.probs.get(label, 0.0)) for label in LABELS}


def modality_label_value(snapshot: Mapping[str, Any], modality: str) -> dict[str, float] | str | None:
    return label_value(present_readings(snapshot).get(modality))


def _lean(view: Any) -> str:
    top = top_label(view.probs)
    return f"{top} {float(view.probs[top]):.0%}"


def reading_phrase(modality: str, view: Any) -> str:
    """'your words sound a bit sad', or for a lean 'your words give no clear sign (leaning sadness 21%)'."""
    if reading_is_sure(view):
        return f"{SUBJECT[modality]} {BY_NAME[modality].verb} {label_word(modality, view.probs)}"
    return f"{SUBJECT[modality]} give{'' if modality == 'text' else 's'} no clear sign (leaning {_lean(view)})"


def _why_is_current(why: str, present: Mapping[str, Any]) -> bool:
    """Fusion's own "why" is kept only when every modality it names has a reading now."""
    named = [m for m, subject in SUBJECT.items() if subject in why.lower()]
    return bool(named) and all(m in present for m in named)


def fused_lines(snapshot: Mapping[str, Any]) -> list[str]:
    """The heading in words, why, and (only with words and face/voice both present) whether they clash."""
    state = snapshot["state"]
    present = present_readings(snapshot)
    if state is None or (state.confidence <= 0 and not present):
        return ["**Overall:** no reading yet: type, talk or turn on the camera"]
    order = [m for m in ("text", "voice", "face") if m in present]
    if fused_is_sure(snapshot):
        lines = [f"**Overall:** {state.label} · confidence {state.confidence:.2f} · "
                 f"valence {state.valence:+.2f} · arousal {state.arousal:+.2f}"]
        why = state.why if _why_is_current(state.why or "", present) else "; ".join(
            reading_phrase(m, present[m]) for m in order if top_label(present[m].probs) == state.label)
    else:
        lines = [f"**Overall:** {NOT_SURE} (confidence {state.confidence:.2f}: the signs are weak or mixed)"]
        why = "; ".join(reading_phrase(m, present[m]) for m in order)
    lines.append(f"**Why:** {why}" if why else "**Why:** nothing to go on yet")
    other = [m for m in ("voice", "face") if m in present]
    used = {c.modality for c in getattr(state, "contributions", ()) if getattr(c, "weight", 0) > 0}
    if "text" in present and other and any(m in used for m in other):
        sides = " and ".join(f"your {MODALITY_NAMES[m]}" for m in other)
        if state.incongruent:
            # a clash is between two present readings, even when the words that read neutral have no say in the
            # fused state ("I'm fine" over a sad face is the case the clash is for)
            lines.append(f"**Your words and {sides} disagree:** {state.incongruence or 'they point different ways'}")
        elif "text" in used:
            # "no clash" is a claim about two readings: only those that say something may be named in it
            sure = [m for m in other if reading_is_sure(present[m])]
            if sure and reading_is_sure(present["text"]):
                lines.append("Your words do not clash with " + " and ".join(f"your {MODALITY_NAMES[m]}" for m in sure))
    return lines


def modality_line(snapshot: Mapping[str, Any], modality: str) -> str:
    name = MODALITY_NAMES[modality].capitalize()
    needed = MODALITY_CONSENT.get(modality)
    if needed is not None and not snapshot.get("consent", {}).get(needed, False):
        return f"**{name}:** {needed} off"
    view = snapshot["views"].get(modality)
    if view is None:
        return f"**{name}:** no reading yet"
    if not has_reading(view):
        return f"**{name}:** no reading ({getattr(view, 'reason', '') or 'nothing to read'})"
    if not reading_is_sure(view):
        return f"**{name}:** {NOT_SURE} (leaning {_lean(view)}, confidence {_confidence(view):.2f})"
    top = top_label(view.probs)
    words = (f"**{name}:** {top} {float(view.probs[top]):.2f} · valence {view.valence:+.2f} · "
             f"arousal {view.arousal:+.2f} · confidence {_confidence(view):.2f}")
    explanation = getattr(view, "explanation", "")
    return words + (f" ({explanation})" if explanation else "")


def details_markdown(snapshot: Mapping[str, Any]) -> str:
    lines = fused_lines(snapshot) + [modality_line(snapshot, m) for m in ("text", "voice", "face")]
    level, reason = snapshot.get("safety", ("none", ""))  # the last reply's safety level (agent/safety_level.py)
    lines.append(f"**Safety:** {level}" + (f" ({reason})" if reason else ""))
    if snapshot.get("because"):  # the last reply's appraised cause (ui/report.because)
        lines.append(f"**Last appraisal,** {snapshot['because']}")
    if snapshot.get("problems"):
        lines.append("**Problems:** " + "; ".join(snapshot["problems"][-3:]))
    return "  \n".join(lines)


def heard_markdown(snapshot: Mapping[str, Any]) -> str:
    """The last few things heard; with the microphone off, it says so rather than keeping old words on show."""
    if not snapshot.get("consent", {}).get("microphone", False):
        return "*Heard: microphone off.*"
    transcripts = snapshot.get("transcripts", [])
    if not transcripts:
        return "*Heard: nothing yet. Speak, then pause: a short silence ends your turn.*"
    return "**Heard:** " + " / ".join(f"“{t}”" for t in transcripts[-HEARD_SHOWN:])


THINKING = "thinking …"
HEARING = "listening to what you said …"


def chat_messages(snapshot: Mapping[str, Any]) -> list[dict[str, str]]:
    """The conversation as shown: the person's words as soon as they are known, then "thinking" until the reply.

    The reply appears whole, once the reply check has passed: a streamed attempt the check rejects would otherwise
    show as words being taken back. Only its opener (the appraisal's reaction, "I'm so sorry.") shows at once, with
    an ellipsis while the rest is written: every attempt and the fallback start with it."""
    chat = [dict(m) for m in snapshot["chat"]]
    pending = snapshot.get("pending_user_text") or ""
    if pending and not (chat and chat[-1]["role"] == "user" and chat[-1]["content"] == pending):
        chat.append({"role": "user", "content": pending})
    waiting = bool(snapshot.get("busy")) or bool(snapshot.get("replying"))
    opening = snapshot.get("reply_opening") or ""
    if chat and chat[-1]["role"] == "user" and (waiting or pending):
        chat.append({"role": "assistant", "content": f"{opening} …" if opening and not pending else THINKING})
    elif waiting:
        chat.append({"role": "assistant", "content": HEARING})
    return chat


def counters_markdown(snapshot: Mapping[str, Any]) -> str:
    c = snapshot["counters"]
    return (f"frames analysed {c['frames_analyzed']} (received {c['frames_received']}, dropped without consent "
            f"{c['frames_dropped_no_consent']}, dropped while busy {c['frames_dropped_busy']}) · audio chunks "
            f"{c['audio_chunks_received']} (dropped without consent {c['audio_chunks_dropped_no_consent']}) · "
            f"utterances {c['utterances']} · replies {c['replies']}")
