"""The safety level of a message: the keyword rules (agent/safety.py) as the floor, the semantic detector
(agent/crisis_detector.py) beside them.

    crisis   the fixed caring message with resources, no generation (rules or detector sure enough)
    concern  a generated reply that stays with the person, plus one gentle check-in and where help is, added here in
             code (a 135M model cannot be trusted to keep it)
    none     an ordinary reply

Risk to someone else ("my friend says she wants to die") is recognised and answered as such (`third_party`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from agent import safety

LEVELS: tuple[str, ...] = ("none", "concern", "crisis")
RELATIONS = (r"(best friend|friend|sister|brother|sibling|mum|mom|mother|dad|father|parent|son|daughter|wife|husband|"
             r"partner|boyfriend|girlfriend|roommate|flatmate|cousin|uncle|aunt|niece|nephew|colleague|coworker|"
             r"classmate|kid|child|teenager|student|neighbour|neighbor|grandson|granddaughter)s?")
THIRD_SUBJECT = re.compile(rf"\b(he|she|they|hes|shes|theyre|someone|somebody|(my|our|a) {RELATIONS})\b")
FIRST_SUBJECT = re.compile(r"\b(i|im|ive|id|ill|myself|my ?self|my (own )?life)\b")
THIRD_REFLEXIVE = re.compile(r"\b(him|her|them)sel(f|ves)\b")
SUBJECT_LOOKBACK_WORDS = 8

CONCERN_LINES: dict[bool, str] = {
    False: "Can I gently ask: are you safe right now? If it ever feels like too much, {help_short} can help, "
           "any time.",
    True: "Is the person you're worried about safe right now? If you fear for them, {help_short} can help you "
          "both, any time.",
}


class Detector(Protocol):
    def score(self, text: str): ...  # -> agent.crisis_detector.CrisisScore


@dataclass(frozen=True)
class SafetyAssessment:
    level: str  # one of LEVELS
    reason: str  # in words, for the appraisal, the session and the panel
    flags: tuple[str, ...]  # the rules' flags; "suicide" when the detector alone takes the crisis route
    third_party: bool  # the risk is to someone else
    detector_probability: float | None  # None when the detector was not run or failed
    status: tuple[str, ...] = ()  # e.g. the detector failed and the rules decided alone


def third_party(text: str, check: safety.SafetyCheck | None = None) -> bool:
    """Whether the risk in `text` is someone else's: each matched phrase's nearest subject is a third person (or the
    phrase says himself/herself/themselves); with no matched phrase, the words have third-person subjects and no
    first-person one ("my son told me he doesn't want to be alive")."""
    normalised = safety.normalise(text)
    matches = [m for m in (check.matches if check else ()) if m]
    if matches:
        verdicts = []
        for phrase in matches:
            if THIRD_REFLEXIVE.search(phrase):
                verdicts.append(True)
                continue
            if FIRST_SUBJECT.search(phrase):
                verdicts.append(False)
                continue
            start = normalised.find(phrase)
            before = normalised[:max(start, 0)].split()[-SUBJECT_LOOKBACK_WORDS:]
            subject = next((w for w in reversed(before) if FIRST_SUBJECT.fullmatch(w) or THIRD_SUBJECT.fullmatch(w)
                            or w in ("friend", "sister", "brother", "son", "daughter")), "")
            verdicts.append(bool(subject) and not FIRST_SUBJECT.fullmatch(subject))
        return all(verdicts)
    without_relations = re.sub(rf"\b(my|our) {RELATIONS}\b", " they ", normalised)
    return bool(THIRD_SUBJECT.search(without_relations)) and not FIRST_SUBJECT.search(without_relations)


def assess(text: str, detector: Detector | None) -> SafetyAssessment:
    """Rules first (they are the floor), then the detector; a detector that raises leaves the rules to decide."""
    check = safety.check(text)
    status: list[str] = []
    probability: float | None = None
    detector_level = "none"
    window = ""
    if detector is not None:
        try:
            scored = detector.score(text)
            probability, detector_level, window = scored.probability, scored.level, scored.window
        except Exception as err:  # any fault in the model must never cost the person the rules' answer
            status.append(f"crisis detector failed ({type(err).__name__}: {err}): keyword rules only")
    crisis_kinds = tuple(f for f in check.flags if f in safety.CRISIS_FLAGS)
    others = third_party(text, check)
    said_by_detector = (f"detector p={probability:.2f} on \"{_short(window)}\"" if probability is not None else "")
    if crisis_kinds:
        reason = f"rules: {', '.join(crisis_kinds)} ({'; '.join(dict.fromkeys(check.matches))})"
        if detector_level == "crisis":
            reason += f"; {said_by_detector}"
        level, flags = "crisis", check.flags
    elif detector_level == "crisis" and safety.NEAR_CRISIS_FLAG not in check.flags:
        level, flags, reason = "crisis", ("suicide",), said_by_detector
    elif detector_level != "none" or safety.NEAR_CRISIS_FLAG in check.flags:
        # a negated mention ("I'm not suicidal, just sad") is the rules' call: the detector reads the topic, not
        # the "not", so it can raise such a message to concern but not to crisis
        parts = (["rules: negated or softer phrase (near_crisis)"] if check.flags else []) + (
            [said_by_detector] if detector_level != "none" else [])
        level, flags, reason = "concern", check.flags, "; ".join(parts)  # flags stay the rules' own
    else:
        level, flags, reason = "none", (), ""
    if level != "none" and others:
        reason += "; risk to someone else"
    return SafetyAssessment(level=level, reason=reason, flags=flags, third_party=others and level != "none",
                            detector_probability=probability, status=tuple(status))


def concern_line(about_someone_else: bool, locale: str | None = None) -> str:
    """One gentle check-in and where help is, added to a generated reply at the concern level."""
    return CONCERN_LINES[about_someone_else].format(**safety.resources_for(locale))


def _short(window: str, words: int = 12) -> str:
    said = window.split()
    return " ".join(said[:words]) + (" ..." if len(said) > words else "")
