"""EBG stage 1: what the person feels, about what, and what they need, before any reply is written.

Two ways, one result. `appraise_by_code` is the default for small models (and runs well under 50 ms): emotion and
intensity from the fused EmotionState (or, text-only, from a text-emotion reading or a small cue lexicon), the cause
quoted verbatim from the conversation: by the trained cause finder (agent/cause_finder.py: which of the last turns
holds it, the person's own words or what the agent said, and the span in it) when one is given, else the clause of
the person's own words that carries the emotion's cue words (the rules, also the fallback), the need by rules refined on
tests/data/scripted_turns.jsonl. `appraise_by_llm` asks a capable backend for the same thing as schema-constrained
JSON and validates it; anything invalid falls back to the code appraisal with a note saying why.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from agent import safety
from agent.backends.base import GenerationParams, LLMBackend, LLMError, complete, one_line
from agent.cause_finder import CauseFinder
from agent.contracts import NEEDS, Appraisal
from agent.prompts import defuse
from basics.errors import ModelUnavailableError
from basics.labels import LABEL_VALENCE_AROUSAL, LABELS, normalise_probs, top_label
from fusion.state import EmotionState

NEGATIVE_EMOTIONS: frozenset[str] = frozenset({"anger", "disgust", "fear", "sadness"})
# Below this top probability the text model is torn (chance is 1/7 = 0.14), and the cue lexicon may decide.
UNSURE_TOP_PROB = 0.35
CONTEXT_TURNS = 3  # how many of the person's earlier turns a neutral-sounding turn may take its emotion from

# Cue words per emotion for text-only appraisal when no text-emotion model is given. Stems match word starts
# ("frustrat" matches "frustrated", "frustrating"). Written for this project, short on purpose.
EMOTION_CUES: dict[str, tuple[str, ...]] = {
    "anger": ("angry", "anger", "furious", "mad at", "annoy", "irritat", "frustrat", "pissed", "fed up", "rage",
              "livid", "unfair", "how dare", "sick of", "hate it when", "outrag", "yelled", "screamed at", "ignored me",
              "lied to me", "cheated", "cheating on", "stole", "rude", "blamed me", "took credit"),
    "disgust": ("disgust", "gross", "revolting", "nasty", "vile", "repuls", "sickening", "made me sick", "filthy",
                "rotten", "moldy", "mouldy", "cockroach", "maggot", "vomit", "puke", "creepy", "ew", "yuck", "slimy",
                "smelled awful", "stank", "stinks", "hair in my"),
    "fear": ("afraid", "scared", "scary", "terrif", "frighten", "fear", "nervous", "anxious", "anxiety", "worried",
             "worry", "panic", "dread", "what if", "uneasy", "on edge", "can't stop thinking about", "freaking out",
             "tense", "shaking", "petrified", "spooked", "stress", "biopsy", "interview tomorrow", "exam tomorrow",
             "test tomorrow", "can't sleep", "cant sleep", "couldn't sleep",
             # a worry about what may come ("my doctor wants more tests and I keep imagining the worst" read disgust)
             "imagining the worst", "imagine the worst", "fear the worst", "expect the worst", "expecting the worst",
             "thinking the worst", "think the worst", "assume the worst", "assuming the worst"),
    "joy": ("happy", "glad", "thrilled", "excited", "delighted", "joy", "great news", "good news", "amazing",
            "awesome", "wonderful", "fantastic", "love it", "proud", "got the job", "got promoted", "promotion",
            "passed", "engaged", "married", "accepted", "won", "finally did it", "so grateful", "grateful",
            "best day", "yay", "can't wait", "relieved", "got in", "new puppy", "baby was born", "graduat",
            "celebrat", "nailed it", "hooray", "made it"),
    "sadness": ("sad", "unhappy", "depress", "down", "lonely", "alone", "miss her", "miss him", "miss them",
                "miss my", "cry", "cried", "crying", "tears", "heartbroken", "broke up", "breakup", "dumped",
                "lost my", "passed away", "died", "funeral", "grief", "griev", "hurt", "disappoint", "let down",
                "empty", "hopeless", "failed", "rejected", "left me", "no one", "nobody", "gone", "lost", "sorry for",
                "ashamed", "embarrass", "guilty", "regret", "miserable", "laid off", "fired"),
    "surprise": ("surpris", "shock", "can't believe", "cannot believe", "unexpected", "out of nowhere", "wow",
                 "no way", "didn't expect", "did not expect", "suddenly", "out of the blue", "astonish", "whoa",
                 "blew my mind", "never thought", "turns out", "plot twist", "stunned"),
}
# Good-news words inside bad news ("passed over for the promotion", "didn't get the job"): a setback, read as
# sadness, and its words count for no joy.
SETBACKS = re.compile(
    r"\b((passed over|didn'?t get|did not get|never got|lost out on|missed out on)( for)?( the| a| my| that)?"
    r"( \w+)?|wasn'?t (chosen|picked|selected|accepted|promoted|invited)|got rejected|turned (me )?down|"
    r"gave (it|the job|the promotion|the role) to|lost out|missed out)\b", re.I)
NEGATORS = re.compile(r"\b(not|never|no|don't|dont|didn't|didnt|isn't|isnt|wasn't|wasnt|aren't|arent)\s+(\w+\s+)?$")

QUESTION_OPENERS = re.compile(
    r"^\s*(how|what|which|where|when|who|should|can|could|would|is there|are there|do you know|does|do|any "
    r"(tips|advice|ideas)|tips|help me)\b", re.I)
INFORMATION_CUES = re.compile(
    r"\b(how (do|can|should|would) (i|we|you)|what (should|can|do) i|any (tips|advice|ideas|suggestions)|"
    r"can you (explain|help|tell|recommend|suggest)|is it (normal|okay|ok|safe|true)|what does|what is the best|"
    r"where (can|do|should) i|is there (anything|a way|something)|which (one|is)|should i)\b"
    # a request only where a sentence starts with it: "he taught me how to fish", "I can't explain it" ask nothing
    r"|(^|[.!?]\s+)(how to|explain|recommend)\b", re.I)
RHETORICAL = re.compile(r"^\s*(why (me|does|do|is|did|can't|cant|won't|wont|am)|how could (he|she|they|you))\b", re.I)
WORRY_CUES = re.compile(
    r"\b(worr|anxious|nervous|scared|afraid|what if|panic|dread|terrif|frighten|uneasy|on edge|can't sleep|"
    r"freaking out|stress)", re.I)
GOOD_NEWS_CUES = re.compile(
    r"\b(got the|got into|got in|got promoted|passed|won|engaged|married|accepted|finally|promotion|graduat|"
    r"good news|great news|guess what|best day|proud|made it|nailed|birthday|born|new (job|house|car|puppy|kitten))"
    r"(?!'t\b)", re.I)  # "won" is not "won't"

CLAUSE_SPLIT = re.compile(r"(?<=[.!?;])\s+|,\s+|\s+(?=\bbut\b)|\s+(?=\bbecause\b)|\s+-\s+")

APPRAISAL_SCHEMA: dict = {
    "type": "object",
    "properties": {
        "emotion": {"type": "string", "enum": list(LABELS)},
        "intensity": {"type": "number", "minimum": 0, "maximum": 1},
        "cause": {"type": "string"},
        "need": {"type": "string", "enum": list(NEEDS)},
    },
    "required": ["emotion", "intensity", "cause", "need"],
}

TextEmotionFn = Callable[[str], Mapping[str, float]]


def _cue_hits(text: str, cues: tuple[str, ...]) -> int:
    """How many cue stems start a word in `text`, skipping ones right after a negator ("not happy")."""
    lowered = text.lower().replace("\u2019", "'")
    hits = 0
    for cue in cues:
        # a stem never matches the start of a contraction: "won" is not "won't"
        for found in re.finditer(r"\b" + re.escape(cue) + r"(?!'t\b)", lowered):
            if NEGATORS.search(lowered[:found.start()]):
                continue
            hits += 1
    return hits


def lexicon_probs(text: str) -> dict[str, float]:
    """A cheap text-emotion reading from cue words; neutral when none match. Used only without a text model."""
    setbacks = len(SETBACKS.findall(text))
    text = SETBACKS.sub(" ", text)
    scores = {label: float(_cue_hits(text, cues)) for label, cues in EMOTION_CUES.items()}
    scores["sadness"] += setbacks
    if GOOD_NEWS_CUES.search(text) and not any(scores[e] for e in NEGATIVE_EMOTIONS):
        scores["joy"] += 1.0
    scores["neutral"] = 0.6  # a floor: one weak cue beats neutral, nothing does not
    return normalise_probs(scores)


def split_clauses(text: str) -> list[str]:
    """Clauses of the user's words, each a verbatim substring (stripped of edge spaces)."""
    return [c.strip() for c in CLAUSE_SPLIT.split(text.strip()) if c and c.strip()]


def find_cause(text: str, emotion: str) -> str:
    """The clause that carries `emotion` (verbatim from `text`), "" when no clause carries any cue.

    The clause with the most cues for the emotion wins; failing that, the clause with any emotional cue; a short
    message with an emotion but no cue word is its own cause.
    """
    clauses = split_clauses(text)
    if not clauses:
        return ""
    own = EMOTION_CUES.get(emotion, ())
    best = max(clauses, key=lambda c: (_cue_hits(c, own), -clauses.index(c)))
    if own and _cue_hits(best, own) > 0:
        return _trim_cause(best)
    any_cues = tuple(cue for cues in EMOTION_CUES.values() for cue in cues)
    scored = [c for c in clauses if _cue_hits(c, any_cues) > 0 or GOOD_NEWS_CUES.search(c)]
    if scored:
        return _trim_cause(scored[0])
    if emotion != "neutral" and len(clauses) == 1:
        return _trim_cause(clauses[0])
    return ""


def _trim_cause(clause: str) -> str:
    """Drop a leading connective and trailing punctuation: still a verbatim substring."""
    trimmed = re.sub(r"^(and|but|because|so|or)\s+", "", clause, flags=re.I)
    return trimmed.rstrip(" .!?;,")


def choose_need(text: str, emotion: str, valence: float) -> str:
    """The rules, in the order they win: a real question -> information (a rhetorical "why me" is not),
    worry -> reassurance, good news -> celebration, the rest -> to_be_heard."""
    stripped = text.strip()
    rhetorical = bool(RHETORICAL.search(stripped)) or bool(re.search(r"\bwhy\b[^.?!]*\?", stripped, re.I)) \
        and emotion in NEGATIVE_EMOTIONS
    asks = bool(INFORMATION_CUES.search(stripped)) or (stripped.endswith("?") and bool(QUESTION_OPENERS.search(
        stripped.split(".")[-1] if "." in stripped else stripped)))
    if asks and not rhetorical:
        return "information"
    if emotion == "fear" or (WORRY_CUES.search(stripped) and emotion not in ("joy", "anger")):
        return "reassurance"
    # Surprise is celebrated only when something good happened (a fused state's valence says so, or the words do).
    negative_cues = sum(_cue_hits(stripped, EMOTION_CUES[e]) for e in NEGATIVE_EMOTIONS)
    good = bool(GOOD_NEWS_CUES.search(stripped)) or _cue_hits(stripped, EMOTION_CUES["joy"]) > 0 \
        or ("!" in stripped and negative_cues == 0)
    if emotion == "joy" or (emotion == "surprise" and (valence > 0.3 or good)):
        return "celebration"
    if emotion == "neutral" and GOOD_NEWS_CUES.search(stripped):
        return "celebration"
    return "to_be_heard"


def intensity_of(probs: Mapping[str, float], arousal: float, confidence: float = 1.0) -> float:
    """0-1: how sure the top emotion is above chance, raised by arousal; a neutral state is low by nature."""
    label = top_label(probs)
    above_chance = max(0.0, (probs.get(label, 0.0) - 1 / len(LABELS)) / (1 - 1 / len(LABELS)))
    value = 0.6 * above_chance + 0.4 * (abs(arousal) if label != "neutral" else 0.0)
    value *= 0.5 + 0.5 * max(0.0, min(1.0, confidence))
    return round(max(0.0, min(1.0, value)), 3)


def locate_cause(text: str, emotion: str, history: Sequence[tuple[str, str]] = (),
                 cause_finder: CauseFinder | None = None, context_turns: Sequence[int] = ()
                 ) -> tuple[str, int, str, tuple[str, ...]]:
    """(cause, turn, speaker, notes): the cause of `emotion` and where it was said (0 the message, -k the turn k
    back in `history`; "user" or "agent"). The finder decides when given, the emotion is not neutral and it is sure
    enough (its best turn at or above `unsure_below`, else the rules' cause when they find one); the rules decide
    otherwise, and when the finder fails, with a note saying so. `context_turns` (offsets of the person's earlier
    turns, nearest first) are where the rules look when the message itself read neutral."""
    def by_rules() -> tuple[str, int]:
        cause = find_cause(text, emotion)
        for offset in context_turns:  # the turn that carried the feeling names its cause better
            earlier = find_cause(history[len(history) + offset][1], emotion)
            if earlier:
                return earlier, offset
        return cause, 0

    if cause_finder is None or emotion == "neutral":  # the finder learnt causes of emotions, not of calm words
        return (*by_rules(), "user", ())
    try:
        found = cause_finder.find(text, emotion, history)
    except Exception as err:  # a broken weights file or a bug must not cost the person a reply
        return (*by_rules(), "user", (f"cause finder failed ({one_line(err)}): the cause is from the rules",))
    if found.confidence < cause_finder.unsure_below or not found.span:
        cause, turn = by_rules()
        if cause:
            return cause, turn, "user", ()
    return found.span, found.turn, found.speaker, ()


def appraise_with_notes(text: str, state: EmotionState | None = None, *, emotion: str | None = None,
                        text_emotion: TextEmotionFn | None = None, history: Sequence[tuple[str, str]] = (),
                        cause_finder: CauseFinder | None = None) -> tuple[Appraisal, tuple[str, ...]]:
    """The appraisal computed by code, and notes on what failed on the way (for Reply.status).

    `emotion` forces the label (the CLI's --emotion); `state` wins over the text-only reading; `text_emotion` (a
    function text -> probs) replaces the cue lexicon when given; `cause_finder` finds the cause in the message and
    the last turns of `history` ((role, text) pairs), else the rules quote it from the message.

    Text only, a turn that reads neutral ("yes", "it was last week") takes its emotion from the person's recent
    turns in `history`, at lower intensity: the feeling was said earlier, not gone."""
    if emotion is not None and emotion not in LABELS:
        raise ValueError(f"unknown emotion {emotion!r}; expected one of {', '.join(LABELS)}")
    read = text_emotion or lexicon_probs
    history = list(history)
    recent = range(max(0, len(history) - 2 * CONTEXT_TURNS), len(history))
    context_at = [i for i in recent if history[i][0] == "user" and history[i][1].strip()]
    context = [history[i][1] for i in context_at]
    from_context = False
    if state is not None:
        probs, valence, arousal, confidence = normalise_probs(state.probs), state.valence, state.arousal, \
            state.confidence
    else:
        probs = normalise_probs(read(text))
        confidence = 1.0
        if top_label(probs) == "neutral" and context:
            earlier = normalise_probs(read(" ".join(context)))
            if top_label(earlier) != "neutral":
                probs, confidence, from_context = earlier, 0.5, True
        valence, arousal = sum(probs[k] * LABEL_VALENCE_AROUSAL[k][0] for k in LABELS), \
            sum(probs[k] * LABEL_VALENCE_AROUSAL[k][1] for k in LABELS)
    if emotion is not None:
        probs = {label: (0.8 if label == emotion else 0.2 / (len(LABELS) - 1)) for label in LABELS}
        valence, arousal = LABEL_VALENCE_AROUSAL[emotion]
    label = top_label(probs)
    flags = safety.check(text).flags
    context_turns = [i - len(history) for i in reversed(context_at)] if from_context else []
    cause, cause_turn, speaker, notes = locate_cause(text, label, history, cause_finder, context_turns)
    return Appraisal(emotion=label, intensity=intensity_of(probs, arousal, confidence), cause=cause,
                     need=choose_need(text, label, valence), safety_flags=flags, source="code",
                     cause_turn=cause_turn, cause_speaker=speaker), notes


def appraise_by_code(text: str, state: EmotionState | None = None, *, emotion: str | None = None,
                     text_emotion: TextEmotionFn | None = None, history: Sequence[tuple[str, str]] = (),
                     cause_finder: CauseFinder | None = None) -> Appraisal:
    """The appraisal computed by code (see appraise_with_notes), without the notes."""
    return appraise_with_notes(text, state, emotion=emotion, text_emotion=text_emotion, history=history,
                               cause_finder=cause_finder)[0]


def appraisal_messages(text: str, candidates: Mapping[str, float]) -> list[dict[str, str]]:
    """The prompt for a capable LLM: the perception's top candidates as hints, the answer as JSON."""
    top = sorted(candidates.items(), key=lambda kv: -kv[1])[:3]
    hint = ", ".join(f"{k} {v:.2f}" for k, v in top)
    return [
        {"role": "system", "content": (
            "You appraise the emotion of a message before anyone replies. Answer only with JSON: "
            '{"emotion": one of ' + "/".join(LABELS) + ', "intensity": 0 to 1, "cause": the exact words from the '
            'message that say why (copied verbatim, or "" if none), "need": one of ' + "/".join(NEEDS) + "}. "
            "Needs: celebration for good news, information for a real question, reassurance for worry or fear, "
            "to_be_heard for venting, sadness or anger.")},
        {"role": "user", "content": f"Perception's emotion candidates: {hint}.\nMessage: {defuse(text)}"},
    ]


def validate_llm_appraisal(raw: str, text: str, fallback: Appraisal) -> tuple[Appraisal, tuple[str, ...]]:
    """Parse and check the LLM's JSON; any field that is wrong makes the whole answer fall back to the code."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return fallback, ("LLM appraisal was not valid JSON; used the code appraisal",)
    if not isinstance(data, dict):
        return fallback, ("LLM appraisal was not a JSON object; used the code appraisal",)
    emotion, need, cause = data.get("emotion"), data.get("need"), data.get("cause", "")
    try:
        intensity = float(cast(Any, data.get("intensity")))  # None raises TypeError, caught below
    except (TypeError, ValueError):
        intensity = -1.0
    problems = []
    if emotion not in LABELS:
        problems.append(f"emotion {emotion!r}")
    if need not in NEEDS:
        problems.append(f"need {need!r}")
    if not 0.0 <= intensity <= 1.0:
        problems.append("intensity outside 0-1")
    if not isinstance(cause, str):
        problems.append("cause not text")
    if problems:
        return fallback, (f"LLM appraisal invalid ({', '.join(problems)}); used the code appraisal",)
    notes: tuple[str, ...] = ()
    cause = cause.strip().strip('"').rstrip(" .!?;,")
    if cause and cause not in text:
        # A model often re-cases or paraphrases: keep its span only if it is really in the words.
        at = text.lower().find(cause.lower())
        if at >= 0:
            cause = text[at:at + len(cause)]
        else:
            cause, notes = fallback.cause, ("LLM cause was not quoted from the words; used the code's cause",)
    # the LLM reads only the message; the code's cause (maybe from an earlier turn) stands when the LLM names none
    turn, speaker = (0, "user") if cause and cause != fallback.cause else (fallback.cause_turn, fallback.cause_speaker)
    if not cause:
        cause = fallback.cause
    assert isinstance(emotion, str) and isinstance(need, str), "checked against LABELS and NEEDS above"
    return Appraisal(emotion=emotion, intensity=round(intensity, 3), cause=cause, need=need,
                     safety_flags=fallback.safety_flags, source="llm", cause_turn=turn, cause_speaker=speaker), notes


def appraise_by_llm(backend: LLMBackend, text: str, state: EmotionState | None = None, *,
                    emotion: str | None = None, text_emotion: TextEmotionFn | None = None,
                    history: Sequence[tuple[str, str]] = (), timeout_s: float = 30.0,
                    cause_finder: CauseFinder | None = None) -> tuple[Appraisal, tuple[str, ...]]:
    """Ask a capable backend for the appraisal as schema-constrained JSON; validate; fall back to code on failure."""
    fallback, code_notes = appraise_with_notes(text, state, emotion=emotion, text_emotion=text_emotion,
                                               history=history, cause_finder=cause_finder)
    if emotion is not None:
        return fallback, code_notes  # the person said which emotion: nothing to ask
    candidates = state.probs if state is not None else (text_emotion(text) if text_emotion else lexicon_probs(text))
    params = GenerationParams(max_tokens=120, temperature=0.0, json_schema=APPRAISAL_SCHEMA, timeout_s=timeout_s)
    try:
        raw = complete(backend, appraisal_messages(text, candidates), params)
    except LLMError as err:
        return fallback, code_notes + (f"LLM appraisal failed ({err}); used the code appraisal",)
    appraisal, notes = validate_llm_appraisal(raw.strip(), text, fallback)
    return appraisal, code_notes + notes


def load_text_emotion(kind: str = "auto") -> tuple[TextEmotionFn | None, str]:
    """The text-emotion reading for text-only appraisal: "model" (perception's trained head on minilm),
    "lexicon" (the cue words here), or "auto": the model, with the lexicon taking over when the model says neutral
    or is unsure (top probability under UNSURE_TOP_PROB) but the words carry a cue (on a seeded 150-context ED
    sample this read 0.39 right against 0.35 for either
    alone; see the report). Returns the function (None means the lexicon) and a note saying which is in use."""
    if kind == "lexicon":
        return None, "text emotion: cue lexicon"
    try:
        from perception.text_emotion import make_text_emotion

        model = make_text_emotion("default")
    except ModelUnavailableError as err:  # weights missing or the encoder cannot load: say so, keep going (a bug
        # elsewhere raises, so a test cannot pass on the lexicon while the model is broken)
        if kind == "model":
            raise
        return None, f"text emotion: cue lexicon (model unavailable: {' '.join(str(err).split())[:120]})"
    def model_probs(text: str) -> Mapping[str, float]:
        return model.predict(text).probs

    if kind == "model":
        return model_probs, "text emotion: perception model (minilm head)"
    return with_cue_lexicon(model_probs), (
        "text emotion: perception model (minilm head + word n-grams), cue lexicon when it reads neutral or is unsure")


def with_cue_lexicon(model_probs: Callable[[str], Mapping[str, float]]) -> TextEmotionFn:
    """The text model's reading, with the cue lexicon deciding where the model reads neutral or is unsure, and where
    it reads joy in words of only bad news: what `load_text_emotion("auto")` gives, for a caller that already holds
    the model (the live session reads the words once, for the panel and the appraisal)."""

    def model_then_lexicon(text: str) -> Mapping[str, float]:
        probs = model_probs(text)
        # Neutral, or torn between labels: a clear cue word decides ("I passed my driving test" reads 0.25 sadness,
        # because on Reddit "passed" mostly means died; the cue list knows "passed away" from "passed").
        if top_label(probs) == "neutral" or max(probs.values()) < UNSURE_TOP_PROB:
            cues = lexicon_probs(text)
            if top_label(cues) != "neutral":
                return cues
        elif top_label(probs) == "joy":
            # joy against words of only bad news ("passed over for the promotion again", "my test is tomorrow and
            # I can't sleep"): cheering a setback is the worst misreading, so the words decide
            cues = lexicon_probs(text)  # its joy is 0 exactly when no joy cue is left outside a setback
            if top_label(cues) in NEGATIVE_EMOTIONS and cues["joy"] == 0:
                return cues
        return probs

    return model_then_lexicon
