"""The cause finder (agent/cause_finder.py) and how the appraisal, prompt and responder use it."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from agent.appraisal import appraise_by_code, appraise_with_notes, locate_cause
from agent.cause_finder import WEIGHTS_PATH, WINDOW_TURNS, CauseFinder, clause_spans, tidy_span
from agent.contracts import Appraisal
from agent.prompts import system_message
from agent.responder import Responder
from agent.templates import template_reply
from evaluation.evaluate_causes import data_dir, load_cases, score, token_f1, whole_utterance

METRICS = json.loads(WEIGHTS_PATH.with_name("cause_finder_metrics.json").read_text())
VALID = data_dir() / "reccon_train" / "dailydialog_valid.json"


@pytest.fixture(scope="module")
def finder() -> CauseFinder:
    return CauseFinder.load()


def test_clauses_are_verbatim_and_cover_the_words():
    text = "I'm so happy , because I finally passed the exam and my mum called me. Wow!"
    spans = clause_spans(text)
    assert len(spans) >= 4
    assert all(text[a:b] == text[a:b].strip() and text[a:b] for a, b in spans)
    covered = "".join(text[a:b] for a, b in spans)
    assert "".join(covered.split()).replace(",", "").replace(".", "") == \
        "".join(text.split()).replace(",", "").replace(".", "")
    assert tidy_span("and my mum called me .") == "my mum called me"


def test_the_span_is_verbatim_from_the_turn_it_names(finder):
    history = [("user", "Guess what , I got the job at the bank !"),
               ("assistant", "That's wonderful news . When do you start ?")]
    found = finder.find("Next Monday . I'm so excited , I can't wait !", "joy", history)
    said = {0: "Next Monday . I'm so excited , I can't wait !", -1: history[1][1], -2: history[0][1]}
    assert found.turn in said and found.span and found.span in said[found.turn]
    assert found.own_span in said[0] and 0 <= found.confidence <= 1
    assert found.speaker == ("agent" if found.turn == -1 else "user")


def test_an_earlier_turn_by_someone_else_is_found_as_the_cause(finder):
    """A reply that only reacts ("Really? That's terrible.") carries no cause of its own: the finder looks back."""
    history = [("assistant", "Mr Black has been getting a little around , and his wife found out .")]
    found = finder.find("Really ? I can't believe it !", "surprise", history)
    assert found.turn == -1 and found.speaker == "agent"
    assert found.span in history[0][1] and "Mr Black" in found.span


def test_history_is_bounded_to_the_window(finder):
    long_history = [("user" if i % 2 else "assistant", f"turn number {i} about the weather .") for i in range(500)]
    probs = finder.turn_probs("I am so angry about the weather !", "anger", long_history)
    assert len(probs) == WINDOW_TURNS + 1 and min(t for t, _ in probs) == -WINDOW_TURNS


def test_one_turn_takes_under_20_ms(finder):
    history = [("user", "My sister borrowed my car without asking , again ."),
               ("assistant", "That sounds frustrating . What happened ?"),
               ("user", "She scratched the door and didn't even tell me , I found it this morning .")] * 3
    finder.find("I'm furious , she never takes responsibility for anything .", "anger", history)  # warm-up
    timings = []
    for _ in range(30):
        started = time.perf_counter()
        finder.find("I'm furious , she never takes responsibility for anything .", "anger", history)
        timings.append((time.perf_counter() - started) * 1000)
    assert float(np.median(timings)) < 20.0


def test_bad_weights_file_is_one_clear_error(tmp_path):
    bad = tmp_path / "cause_finder.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="cause_finder.npz"):
        CauseFinder.load(bad)
    np.savez(tmp_path / "small.npz", turn_coef=np.zeros(3))
    with pytest.raises(ValueError, match="not a cause-finder weights file"):
        CauseFinder.load(tmp_path / "small.npz")


def test_the_appraisal_carries_the_turn_and_speaker_and_the_prompt_says_whose_words(finder):
    history = [("assistant", "I'd be happy to take you around the city and show you the sights tonight .")]
    appraisal = appraise_by_code("That will be very nice . You're too kind .", emotion="joy", history=history,
                                 cause_finder=finder)
    assert appraisal.cause_turn == -1 and appraisal.cause_speaker == "agent"
    assert appraisal.cause and appraisal.cause in history[0][1]
    assert "what you said" in system_message(appraisal) and appraisal.cause in system_message(appraisal)
    # a template never turns the agent's own words into "you ..."
    assert appraisal.cause not in template_reply(appraisal)
    own = appraise_by_code("I failed my driving test again this morning .", emotion="sadness", cause_finder=finder)
    assert own.cause_turn == 0 and own.cause_speaker == "user"
    assert own.cause and own.cause in "I failed my driving test again this morning ."
    earlier = Appraisal("sadness", 0.5, "my cat died", "to_be_heard", cause_turn=-2, cause_speaker="user")
    assert 'what they said earlier, "my cat died"' in system_message(earlier)


def test_without_a_finder_the_rules_decide_as_before():
    appraisal = appraise_by_code("I'm so angry, my coworker took credit for my project.")
    assert appraisal.cause_turn == 0 and appraisal.cause_speaker == "user"
    assert appraisal.cause == locate_cause("I'm so angry, my coworker took credit for my project.", "anger")[0]


def test_a_neutral_reading_leaves_the_finder_out(finder):
    cause, turn, speaker, notes = locate_cause("ok", "neutral", [("assistant", "Here you are .")], finder)
    assert (cause, turn, speaker, notes) == ("", 0, "user", ())


class BrokenFinder(CauseFinder):
    """A fault that cannot be caused otherwise: the model raises mid-turn."""

    def find(self, text, emotion, history=()):
        raise RuntimeError("weights corrupted in memory")


def test_a_failing_finder_falls_back_to_the_rules_and_says_so(finder):
    broken = BrokenFinder(**{k: getattr(finder, k) for k in ("turn_coef", "turn_intercept", "clause_coef",
                                                             "clause_intercept", "turn_threshold",
                                                             "clause_threshold", "unsure_below", "own_bonus")})
    text = "My dog died yesterday and the house feels so empty."
    appraisal, notes = appraise_with_notes(text, emotion="sadness", cause_finder=broken)
    assert appraisal.cause == appraise_by_code(text, emotion="sadness").cause and appraisal.cause
    assert notes and "cause finder failed" in notes[0] and "weights corrupted" in notes[0]
    reply = Responder(None, cause_finder=broken).respond(text)
    assert any("cause finder failed" in s and "rules" in s for s in reply.status)
    assert reply.route == "fallback" and reply.text


def test_a_missing_weights_file_is_said_in_the_status(tmp_path, monkeypatch):
    def missing(cls, path=tmp_path / "gone.npz"):
        raise OSError(f"{path}: no such file")

    monkeypatch.setattr(CauseFinder, "load", classmethod(missing))
    reply = Responder(None).respond("I got the job!")
    assert any("cause finder unavailable" in s for s in reply.status) and reply.text


def test_the_shipped_responder_uses_the_finder():
    responder = Responder(None)
    history = [("assistant", "Mr Black has been getting a little around , and his wife found out .")]
    reply = responder.respond("Really ? I can't believe it !", history=history, emotion="surprise")
    assert reply.appraisal.cause_turn == -1 and reply.appraisal.cause_speaker == "agent"
    assert not any("cause finder" in s for s in reply.status)


def test_stored_metrics_say_what_the_issue_asks():
    """The dev figures written by training/train_cause_finder.py: above the whole-utterance baseline on spans, and
    earlier-turn causes found at all; settings chosen on train only."""
    dev = METRICS["valid"]
    assert dev["trained finder"]["own_span_f1"] > dev["whole utterance"]["own_span_f1"]
    assert dev["trained finder"]["overall_f1"] > dev["whole utterance"]["overall_f1"] + 0.1
    assert dev["trained finder"]["earlier_turn_recall"] > 0.3
    assert "train" in METRICS["data"] and "5-fold" in METRICS["data"]


@pytest.mark.slow
def test_the_shipped_weights_reproduce_their_dev_figures(finder):
    if not VALID.exists():
        pytest.skip(f"{VALID} not present (RECCON dev data)")
    from evaluation.evaluate_causes import trained_finder

    cases = load_cases("valid")
    method = trained_finder()
    got = score(cases, [method(c) for c in cases])
    assert got == METRICS["valid"]["trained finder"]
    assert got["overall_f1"] > score(cases, [whole_utterance(c) for c in cases])["overall_f1"]
    assert token_f1(method(cases[0]).span, method(cases[0]).span) == 1.0
