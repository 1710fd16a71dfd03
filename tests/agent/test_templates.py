import itertools

import pytest

from agent.contracts import NEEDS, Appraisal
from agent.reply_check import problems
from agent.templates import second_person, template_reply
from basics.labels import LABELS

CAUSES = ("", "I lost my job after eight years", "wow", "my sister is coming home for the first time in years")


@pytest.mark.parametrize("emotion, need, cause", list(itertools.product(LABELS, NEEDS, CAUSES)))
def test_every_template_passes_the_reply_check(emotion, need, cause):
    appraisal = Appraisal(emotion=emotion, intensity=0.6, cause=cause, need=need)
    reply = template_reply(appraisal)
    assert problems(reply, appraisal) == []


def test_cause_is_turned_to_the_second_person():
    assert second_person("I lost my job and I'm scared") == "you lost your job and you're scared"
    assert second_person("My partner left me.") == "your partner left you"


def test_cause_appears_in_the_reply():
    appraisal = Appraisal(emotion="sadness", intensity=0.6, cause="my dog died yesterday", need="to_be_heard")
    assert "your dog died yesterday" in template_reply(appraisal)


def test_a_lower_case_i_is_turned_too():
    from agent.templates import second_person

    assert second_person("he told my girlfriend i cheated on her") == "he told your girlfriend you cheated on her"
    assert second_person("i.e. the one I said") == "i.e. the one you said"


# every pair the appraisal can give (choose_need never pairs joy with reassurance); surprise has no tone of its own
@pytest.mark.parametrize("emotion, need, cause", [
    case for case in itertools.product(("anger", "disgust", "fear", "joy", "sadness"),
                                       ("to_be_heard", "reassurance", "celebration"), CAUSES)
    if case[:2] != ("joy", "reassurance")])
def test_a_template_voices_a_reaction_in_the_emotions_tone(emotion, need, cause):
    # the reader's measure (evaluation/reply_scores.py): warmth or concern whose tone fits, not only a restatement
    from evaluation.reply_scores import emotional_reaction

    appraisal = Appraisal(emotion=emotion, intensity=0.6, cause=cause, need=need)
    assert emotional_reaction(template_reply(appraisal), appraisal), template_reply(appraisal)


def test_a_cause_of_two_sentences_keeps_the_first():
    appraisal = Appraisal(emotion="surprise", intensity=0.6, need="to_be_heard",
                          cause="My manager said the team is being restructured. I'm shocked")
    reply = template_reply(appraisal)
    assert "your manager said the team is being restructured," in reply and "shocked" not in reply
    assert problems(reply, appraisal) == []


def test_sorrow_is_said_for_a_named_loss_only():
    sad = Appraisal(emotion="sadness", intensity=0.6, cause="", need="to_be_heard")
    after_loss = template_reply(sad, "My dog died last night")
    assert after_loss.startswith("I'm so sorry") and problems(after_loss, sad, "My dog died last night") == []
    without_loss = template_reply(sad, "I failed my driving test again")
    assert "sorry" not in without_loss and "really hard" in without_loss


def test_words_of_loss_told_with_joy_get_a_reply_without_tone():
    # the appraisal read joy, the words name a death: neither cheer nor condolence, only listening
    from agent.reply_check import CHEER, CONDOLENCE

    joy = Appraisal(emotion="joy", intensity=0.6, cause="", need="celebration")
    said = "he passed away last year, but he was the sweetest dog, it is nice to remember him"
    reply = template_reply(joy, said)
    assert not CHEER.search(reply) and not CONDOLENCE.search(reply)
    assert problems(reply, joy, said) == []


@pytest.mark.parametrize("said", ["It happened again today at the shop.", "My cat died at the vet this morning."])
def test_no_template_asks_about_something_the_person_never_mentioned(said):
    from agent.topic import off_topic_question

    for emotion, need, cause in itertools.product(LABELS, NEEDS, ("", said.rstrip("."))):
        reply = template_reply(Appraisal(emotion=emotion, intensity=0.6, cause=cause, need=need), said)
        assert not off_topic_question(reply, said), reply
