import json
import time
from pathlib import Path

import pytest

from agent.appraisal import (
    APPRAISAL_SCHEMA,
    appraise_by_code,
    appraise_by_llm,
    choose_need,
    find_cause,
    validate_llm_appraisal,
)
from agent.backends.base import GenerationParams, LLMError
from agent.contracts import NEEDS
from basics.labels import LABELS, top_label
from fusion.state import EmotionState

SCRIPTED = [json.loads(line) for line in
            (Path(__file__).parents[1] / "data" / "scripted_turns.jsonl").read_text().splitlines() if line.strip()]
# Measured on the scripted turns with the cue lexicon (text only): emotion 0.92, need 0.98 (the rules were refined on
# these turns, so these are fitted figures; the ED run in evaluation/data/response_quality.json is the honest one).
EMOTION_ACCURACY_FLOOR = 0.85
NEED_ACCURACY_FLOOR = 0.9


def state_of(label: str, p: float = 0.7) -> EmotionState:
    rest = (1 - p) / (len(LABELS) - 1)
    probs = {k: (p if k == label else rest) for k in LABELS}
    return EmotionState(t_s=0.0, probs=probs, valence=-0.6 if label == "sadness" else 0.5, arousal=0.4,
                        confidence=0.8, contributions=(), incongruent=False, why="")


def test_scripted_turns_cover_every_emotion_and_need():
    assert len(SCRIPTED) >= 40
    assert {row["emotion"] for row in SCRIPTED} == set(LABELS)
    assert {row["need"] for row in SCRIPTED} == set(NEEDS)


def test_code_appraisal_on_scripted_turns_meets_measured_accuracy():
    appraisals = [appraise_by_code(row["text"]) for row in SCRIPTED]
    emotion = sum(a.emotion == row["emotion"] for a, row in zip(appraisals, SCRIPTED)) / len(SCRIPTED)
    need = sum(a.need == row["need"] for a, row in zip(appraisals, SCRIPTED)) / len(SCRIPTED)
    assert emotion >= EMOTION_ACCURACY_FLOOR
    assert need >= NEED_ACCURACY_FLOOR


@pytest.mark.parametrize("row", SCRIPTED, ids=lambda r: r["text"][:30])
def test_cause_is_quoted_verbatim(row):
    appraisal = appraise_by_code(row["text"])
    assert appraisal.cause in row["text"]
    assert 0.0 <= appraisal.intensity <= 1.0
    assert appraisal.need in NEEDS and appraisal.emotion in LABELS


def test_cause_is_the_clause_carrying_the_emotion():
    text = "Work was fine today, but my dog died yesterday and I can't stop crying."
    assert find_cause(text, "sadness") == "but my dog died yesterday and I can't stop crying".removeprefix("but ")


def test_no_cause_for_plain_neutral_words():
    assert appraise_by_code("ok").cause == ""


def test_state_decides_the_emotion_over_the_words():
    appraisal = appraise_by_code("I'm fine, really.", state_of("sadness"))
    assert appraisal.emotion == "sadness"
    assert appraisal.intensity > 0.3


def test_forced_emotion_and_unknown_emotion():
    assert appraise_by_code("the meeting moved to Tuesday", emotion="anger").emotion == "anger"
    with pytest.raises(ValueError):
        appraise_by_code("hello", emotion="bored")


@pytest.mark.parametrize("text, emotion, need", [
    ("Guess what, I passed!", "joy", "celebration"),
    ("How do I reset my router?", "neutral", "information"),
    ("Why does this always happen to me?", "sadness", "to_be_heard"),
    ("I'm worried about tomorrow", "fear", "reassurance"),
    ("My sister ignored me all evening", "anger", "to_be_heard"),
])
def test_need_rules(text, emotion, need):
    assert choose_need(text, emotion, 0.0) == need


def test_safety_flags_reach_the_appraisal():
    assert appraise_by_code("I'm not suicidal, just tired").safety_flags == ("near_crisis",)


def test_code_appraisal_is_fast():
    started = time.perf_counter()
    for row in SCRIPTED:
        appraise_by_code(row["text"])
    assert (time.perf_counter() - started) / len(SCRIPTED) < 0.05


TEXT = "My manager yelled at me in front of everyone and I'm furious."


def test_valid_llm_json_is_used_and_cause_recased_to_the_words():
    fallback = appraise_by_code(TEXT)
    raw = json.dumps({"emotion": "anger", "intensity": 0.9, "cause": "my manager yelled at me", "need": "to_be_heard"})
    appraisal, notes = validate_llm_appraisal(raw, TEXT, fallback)
    assert appraisal.source == "llm" and notes == ()
    assert appraisal.cause == "My manager yelled at me"


@pytest.mark.parametrize("raw, note", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "not a JSON object"),
    ('{"emotion": "rage", "intensity": 0.5, "cause": "", "need": "to_be_heard"}', "invalid"),
    ('{"emotion": "anger", "intensity": 3, "cause": "", "need": "to_be_heard"}', "invalid"),
    ('{"emotion": "anger", "intensity": 0.5, "cause": "", "need": "a hug"}', "invalid"),
])
def test_bad_llm_json_falls_back_to_code_with_a_note(raw, note):
    fallback = appraise_by_code(TEXT)
    appraisal, notes = validate_llm_appraisal(raw, TEXT, fallback)
    assert appraisal == fallback
    assert note in notes[0]


def test_paraphrased_cause_is_replaced_by_the_code_cause():
    fallback = appraise_by_code(TEXT)
    raw = json.dumps({"emotion": "anger", "intensity": 0.9, "cause": "boss shouted", "need": "to_be_heard"})
    appraisal, notes = validate_llm_appraisal(raw, TEXT, fallback)
    assert appraisal.cause == fallback.cause and "not quoted" in notes[0]


class CannedBackend:
    name, model, remote, capable = "canned", "canned", False, True

    def __init__(self, answer: str | Exception):
        self.answer = answer
        self.params: list[GenerationParams] = []

    def stream(self, messages, params):
        self.params.append(params)
        if isinstance(self.answer, Exception):
            raise self.answer
        yield self.answer

    def close(self):
        pass


def test_llm_appraisal_asks_with_the_schema():
    backend = CannedBackend(json.dumps({"emotion": "anger", "intensity": 0.8, "cause": "I'm furious",
                                        "need": "to_be_heard"}))
    appraisal, notes = appraise_by_llm(backend, TEXT)
    assert backend.params[0].json_schema == APPRAISAL_SCHEMA
    assert appraisal.source == "llm" and appraisal.cause == "I'm furious"


def test_llm_appraisal_error_falls_back():
    appraisal, notes = appraise_by_llm(CannedBackend(LLMError("timed out")), TEXT)
    assert appraisal.source == "code" and "timed out" in notes[0]


def test_a_neutral_turn_takes_its_emotion_from_the_persons_earlier_words():
    history = [("user", "My grandmother passed away on Sunday and I miss her."), ("assistant", "What was she like?")]
    appraisal = appraise_by_code("she lived by the sea", history=history)
    assert appraisal.emotion == "sadness"
    assert appraisal.cause in history[0][1] and appraisal.cause
    assert appraisal.intensity < appraise_by_code(history[0][1]).intensity
    assert appraise_by_code("she lived by the sea").emotion == "neutral"


def test_lexicon_choice_needs_no_model():
    from agent.appraisal import load_text_emotion

    function, note = load_text_emotion("lexicon")
    assert function is None and "lexicon" in note


@pytest.mark.slow
def test_auto_text_emotion_uses_the_model_and_the_lexicon_when_it_reads_neutral():
    from agent.appraisal import load_text_emotion

    function, note = load_text_emotion("auto")
    assert function is not None, f"the shipped text emotion model did not load: {note}"
    assert top_label(function("My dog died and I cried all night.")) == "sadness"
    # the model reads this as neutral (measured); the cue "passed" then decides
    assert appraise_by_code("I passed my driving test today!", text_emotion=function).emotion == "joy"


@pytest.mark.slow
@pytest.mark.parametrize("text", [
    "I got passed over for the promotion again and my manager won't even tell me why.",
    "I got passed over for the promotion again, they gave it to the new guy.",
    "I have my driving test tomorrow and I can't sleep.",
])
def test_bad_news_with_good_news_words_is_not_read_as_joy(text):
    # "promotion", "won" (in "won't") and "test" are joy cues; the model read joy or was unsure, and the
    # celebration template cheered a setback
    from agent.appraisal import load_text_emotion

    function, _ = load_text_emotion("auto")
    read = appraise_by_code(text, text_emotion=function)
    assert read.emotion in ("sadness", "anger", "fear") and read.need != "celebration", read


def test_a_worry_about_what_may_come_is_fear():
    from agent.appraisal import lexicon_probs

    assert top_label(lexicon_probs("My doctor wants to run more tests and I keep imagining the worst.")) == "fear"
    assert top_label(lexicon_probs("Expecting the worst from the results.")) == "fear"


def test_a_cue_stem_does_not_match_a_contraction():
    from agent.appraisal import lexicon_probs

    assert top_label(lexicon_probs("My manager won't tell me why.")) != "joy"
    assert top_label(lexicon_probs("We won the final!")) == "joy"


@pytest.mark.parametrize("text, need", [
    ("My grandfather passed away last night. He taught me how to fish.", "to_be_heard"),
    ("I can't explain how sad I am.", "to_be_heard"),
    ("How to tell my boss I'm quitting", "information"),
    ("Recommend me a book for a long flight", "information"),
])
def test_a_request_word_inside_a_sentence_asks_nothing(text, need):
    # "how to" in "he taught me how to fish" made a grieving person's need "information": a template then asked
    # what they needed to know
    from agent.appraisal import choose_need

    assert choose_need(text, "sadness", -0.5) == need
