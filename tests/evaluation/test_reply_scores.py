"""The reply scorer: its definitions on clear cases, and its agreement with the committed reader labels."""

import pytest

from agent.contracts import Appraisal
from evaluation.reply_scores import LABELS_PATH, agreement, rates, score_reply

GRIEF = Appraisal(emotion="sadness", intensity=0.8, cause="", need="to_be_heard")
GOOD = Appraisal(emotion="joy", intensity=0.8, cause="", need="celebration")
SAID_GRIEF = "My sister passed away last month and I still set a plate for her at dinner."
SAID_GOOD = "I finally passed my driving test on the third try!"


def test_a_good_reply_to_grief_has_all_three_mechanisms():
    s = score_reply("I'm so sorry about your sister. It sounds like she is still part of every dinner. "
                    "What was she like?", SAID_GRIEF, GRIEF)
    assert s.emotional_reaction and s.interpretation and s.exploration
    assert s.valence_consistent and s.relevant and not s.invented and not s.off_topic_question
    assert not s.cut_off and not s.loop and s.words == 20


def test_cheer_to_grief_is_no_reaction_and_not_valence_consistent():
    s = score_reply("That's wonderful! What are you most looking forward to?", SAID_GRIEF, GRIEF)
    assert not s.emotional_reaction and not s.valence_consistent


def test_sorry_to_good_news_is_no_reaction():
    assert not score_reply("I'm so sorry to hear that.", SAID_GOOD, GOOD).emotional_reaction
    assert score_reply("Congratulations, third time lucky!", SAID_GOOD, GOOD).emotional_reaction


def test_off_topic_question_is_not_exploration():
    s = score_reply("That's great. What's the most challenging part of your job?", SAID_GOOD, GOOD)
    assert s.off_topic_question and not s.exploration


@pytest.mark.parametrize("reply, what", [
    ("How is your son taking it?", "your son"),
    ("Did you and Jessica go to Paris together?", "Jessica"),
    ("I had a sister too, and I never got over it.", "a life of its own"),
])
def test_invented_people_names_and_a_life_of_its_own(reply, what):
    s = score_reply(reply, SAID_GRIEF, GRIEF)
    assert s.invented and what in s.invented_what


def test_cut_off_and_loop():
    assert score_reply("I'm so sorry about your sister and I", SAID_GRIEF, GRIEF).cut_off
    assert score_reply("So sorry. So sorry.", SAID_GRIEF, GRIEF).loop


def test_rates_are_shares():
    scores = [score_reply("I'm so sorry. What was she like?", SAID_GRIEF, GRIEF),
              score_reply("Okay.", SAID_GRIEF, GRIEF)]
    out = rates(scores)
    assert out["n"] == 2 and out["exploration"] == 0.5 and out["emotional_reaction"] == 0.5


@pytest.mark.slow
def test_the_scorer_agrees_with_the_reader_labels():
    report = agreement(LABELS_PATH)
    assert all(row["n"] == 60 for row in report.values())
    # what the README reports; a change to the scorer that loses agreement fails here
    assert report["emotional_reaction"]["kappa"] >= 0.6
    assert report["exploration"]["kappa"] >= 0.5
    assert report["invented"]["accuracy"] >= 0.85
    assert report["valence_consistent"]["accuracy"] >= 0.9
    assert report["relevant"]["accuracy"] >= 0.7
