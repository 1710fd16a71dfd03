import pytest

from agent.contracts import Appraisal
from agent.reply_check import (
    asks_open_question,
    has_loop,
    names_a_loss,
    passes,
    problems,
    trim_to_sentence,
    valence_consistent,
)

GOOD_NEWS = Appraisal(emotion="joy", intensity=0.8, cause="I got the job", need="celebration")
GRIEF = Appraisal(emotion="sadness", intensity=0.8, cause="my dog died", need="to_be_heard")
WORRY = Appraisal(emotion="fear", intensity=0.7, cause="my interview tomorrow", need="reassurance")
QUESTION = Appraisal(emotion="neutral", intensity=0.1, cause="", need="information")
ANGER = Appraisal(emotion="anger", intensity=0.7, cause="my coworker took credit", need="to_be_heard")

BAD = [
    ("I'm so sorry to hear that. What happened?", GOOD_NEWS, "condolence to good news"),
    ("That must be hard for you. How are you doing?", GOOD_NEWS, "condolence to good news"),
    ("Congratulations! That's wonderful news.", GRIEF, "cheer to distress"),
    ("That's great, you must be so proud of yourself!", GRIEF, "cheer to distress"),
    ("You should get a new dog as soon as you can.", GRIEF, "advice when the need is to be heard"),
    ("Have you tried talking to your manager about it?", ANGER, "advice when the need is to be heard"),
    ("I recommend you write it all down and move on.", ANGER, "advice when the need is to be heard"),
    ("It sounds like you have clinical depression. Please rest.", GRIEF, "diagnosis"),
    ("You might have an anxiety disorder, that happens a lot.", WORRY, "diagnosis"),
    ("I feel sad too when I think about dogs. What was his name?", GRIEF, "claims to have feelings"),
    ("I know exactly how you feel, it breaks my heart.", GRIEF, "claims to have feelings"),
    ("I've been there myself, it will pass soon enough.", WORRY, "claims to have feelings"),
    ("That is so so so sad to hear about.", GRIEF, "repetition loop"),
    ("What was he like? What was he like?", GRIEF, "repetition loop"),
    ("I am here for you and I am here for you always.", GRIEF, "repetition loop"),
    ("That sounds really hard and I wonder if you", GRIEF, "cut off mid-sentence"),
    ("Sorry. That is sad. It hurts. What was he like? Tell me.", GRIEF, "sentences"),
    ("Okay.", QUESTION, "too short"),
    ("User: how are you? Assistant: fine.", QUESTION, "chat markup"),
    ("", QUESTION, "empty"),
]

GOOD = [
    ("Congratulations on the new job, you clearly earned it! What are you most excited about?", GOOD_NEWS),
    ("I'm so happy for you, that's wonderful news. When do you start?", GOOD_NEWS),
    ("I'm so sorry about your dog. He sounds like he was a big part of your life; what was he like?", GRIEF),
    ("Losing a companion like that leaves a real hole. I'm here to listen if you want to talk about him.", GRIEF),
    ("It's normal to feel nervous before an interview, and it shows you care. What part worries you most?", WORRY),
    ("A credit score is a number lenders use to judge how likely you are to repay a loan.", QUESTION),
    ("That sounds infuriating, especially when you did the work. How did the rest of the team react?", ANGER),
]


@pytest.mark.parametrize("reply, appraisal, expected", BAD)
def test_each_bad_reply_is_caught_for_the_right_reason(reply, appraisal, expected):
    found = problems(reply, appraisal)
    assert found, reply
    assert any(expected in problem for problem in found), found


@pytest.mark.parametrize("reply, appraisal", GOOD)
def test_good_replies_pass(reply, appraisal):
    assert problems(reply, appraisal) == []
    assert passes(reply, appraisal)


def test_advice_is_fine_when_information_is_the_need():
    assert passes("You should replace the battery once a year; twist the cover off to reach it.", QUESTION)


def test_trim_keeps_whole_sentences_only():
    assert trim_to_sentence("That sounds hard. What was he") == "That sounds hard."
    assert trim_to_sentence("No end here") == "No end here"
    assert trim_to_sentence("  Wow!  Really?  ") == "Wow! Really?"


def test_loop_detection_leaves_normal_text_alone():
    assert not has_loop("That sounds hard. What was he like, and how are you holding up?")
    assert has_loop("It was a good day, a good day, a good day for sure.")


def test_valence_consistency_and_open_questions():
    assert not valence_consistent("I'm sorry to hear that.", GOOD_NEWS)
    assert valence_consistent("I'm sorry to hear that.", GRIEF)
    assert asks_open_question("That sounds hard. What was he like?")
    assert not asks_open_question("That sounds hard. Are you okay?")


def test_condolence_for_a_loss_needs_a_loss():
    spat = Appraisal(emotion="disgust", intensity=0.6, cause="", need="to_be_heard")
    found = problems("I'm sorry for your loss. How was the rest of the trip?", spat, "Someone spat on the bus seat.")
    assert any("loss nobody mentioned" in p for p in found)
    assert passes("I'm so sorry for your loss. What was he like?", GRIEF, "My dog died yesterday.")
    # "about your loss" too: a forgotten birthday is no loss
    found = problems("I'm really sorry about your loss. What happened?", GRIEF, "My best friend forgot my birthday.")
    assert any("loss nobody mentioned" in p for p in found)


@pytest.mark.parametrize("reply", [
    "You're going to have to talk to your boss about it.",
    "Just tell them how you feel and let it go.",
])
def test_more_advice_forms_are_caught(reply):
    assert any("advice" in p for p in problems(reply, ANGER))


@pytest.mark.parametrize("reply", [
    "It makes me want to cry just hearing it.",
    "I love it when people bring their own twist! What pasta is it?",
    "How exciting! I'm glad about it too. What will you do first?",
    "How exciting! I'm excited about the opportunity and can't wait to hear more.",
])
def test_more_feeling_claims_are_caught(reply):
    assert any("feelings" in p for p in problems(reply, GRIEF))


def test_no_feeling_is_read_into_neutral_words():
    plain = Appraisal(emotion="neutral", intensity=0.1, cause="", need="to_be_heard")
    assert any("neutral words" in p for p in problems("I'm so sorry to hear that. How are you?", plain))
    assert any("neutral words" in p for p in problems("That's wonderful! What kind of barbecue?", plain))
    assert passes("Sounds like a relaxed evening. What did you grill?", plain)


def test_a_life_of_its_own_is_refused():
    reply = ("That's just sad. It can be hard when things are gone, but it also makes me appreciate what I already "
             "have. How are you holding up?")
    assert any("life of its own" in p for p in problems(reply, GRIEF, "My dog died this morning."))
    assert any("life of its own" in p for p in problems("My dog did that too. What was he like?", GRIEF))


@pytest.mark.parametrize("reply, user_text, invented", [
    ("That sounds so lonely. How about your son?", "My dog died and the house feels empty.", True),
    ("That sounds so lonely. How is your son taking it?", "My son and I lost our dog today.", False),
    ("How is your mom doing with all this?", "My mother has been in hospital all week.", False),
    ("How are the kids taking it?", "My kids cried all night.", False),
    ("How is your family coping?", "I was let go today.", False),  # everyone has a family: asking is no invention
    ("How is the baby doing?", "We are expecting our first child!", False),
    ("How is your baby doing?", "We are expecting our first child!", False),
    ("What did your boss say about it?", "I was let go today.", True),
])
def test_people_the_person_never_mentioned(reply, user_text, invented):
    found = [p for p in problems(reply, GRIEF, user_text) if "never did" in p]
    assert bool(found) == invented, found


@pytest.mark.parametrize("reply", ["That was a great day for a new home... (laughs) What was the best part?",
                                   "*hugs* That sounds so hard. What happened next?"])
def test_stage_directions_are_refused(reply):
    assert any("stage direction" in p for p in problems(reply, GOOD_NEWS if "home" in reply else GRIEF))


@pytest.mark.parametrize("reply", [
    "You're always so happy about things. Is it like my new laptop or phone?",
    "I'm glad you're enjoying it, I'll see you in the store tomorrow! What will you buy?",
])
def test_possessions_and_meetings_of_its_own_are_refused(reply):
    assert any("life of its own" in p for p in problems(reply, GOOD_NEWS, "We finally closed on our first house."))


def test_set_phrases_of_sympathy_are_not_a_life_of_its_own():
    reply = "My condolences, losing him must hurt so much. What was he like?"
    assert not any("life of its own" in p for p in problems(reply, GRIEF, "My dog died this morning."))


@pytest.mark.parametrize("reply, said", [
    ("That sounds stressful. What's the most challenging part of your job?", "We are moving house next week."),
    ("It's so much easier now. What do you think about your own family going through a tough time?",
     "I finally told my dog I'm moving out and she barked."),
    ("That's lovely. What kind of music do you usually listen to on weekends?", "My cat had kittens today!"),
])
def test_a_question_off_the_persons_topic_fails(reply, said):
    appraisal = Appraisal(emotion="neutral", intensity=0.3, cause="", need="to_be_heard")
    assert any("never mentioned" in p for p in problems(reply, appraisal, said))


@pytest.mark.parametrize("reply, said", [
    ("That must have been hard. What was your relationship with him like?",
     "I finally told my dad I'm dropping out of med school and he hung up on me."),
    ("Congratulations! What will you do first in the new role?", "I finally got the job I interviewed for!"),
    ("That sounds like a lot. How are you holding up?", "We are moving house next week."),
    ("I'm so sorry. How is your family taking it?", "My dad hung up on me."),
])
def test_a_question_on_the_persons_topic_passes(reply, said):
    appraisal = Appraisal(emotion="sadness", intensity=0.3, cause="", need="to_be_heard")
    assert not any("never mentioned" in p for p in problems(reply, appraisal, said))


def test_cheer_to_a_loss_fails_even_when_the_appraisal_read_joy():
    misread = Appraisal(emotion="joy", intensity=0.6, cause="", need="celebration")
    found = problems("That's wonderful! What was she like?", misread, "My sister passed away. She was the best.")
    assert any("cheer to words of loss" in p for p in found)


def test_a_long_lost_friend_is_no_loss():
    surprise = Appraisal(emotion="surprise", intensity=0.5, cause="", need="to_be_heard")
    said = "I recently found out that my old long lost friend works at my new firm."
    condolence = "I'm sorry for your loss. What happened?"
    assert any("loss nobody mentioned" in p for p in problems(condolence, surprise, said))
    grief = "My grandfather passed away and I lost my way."
    assert not any("loss nobody mentioned" in p for p in problems(condolence, surprise, grief))


def test_emoji_fail_the_check():
    from agent.contracts import Appraisal
    from agent.reply_check import problems

    joy = Appraisal(emotion="joy", intensity=0.7, cause="I got the job", need="celebration")
    reply = "Congratulations on the job! hugs 🌍✨💚❤️ How do you feel?"
    assert "emoji in the reply" in problems(reply, joy, "I got the job")
    assert "emoji in the reply" not in problems("Congratulations on the job! How do you feel?", joy, "I got the job")


def test_words_of_self_harm_the_person_never_used_fail():
    nervous = Appraisal(emotion="fear", intensity=0.6, cause="", need="reassurance")
    reply = ("That sounds nerve-wracking. How do you handle it when the things that make your life worth living seem "
             "impossible right now?")
    found = problems(reply, nervous, "I feel so nervous about my upcoming job interview.")
    assert any("self-harm the person never mentioned" in p for p in found)
    # the person's own words may be answered in kind
    said = "Some days I don't know if life is worth living."
    assert not any("self-harm" in p for p in problems("That sounds so heavy. When did life stop feeling worth "
                                                      "living?", GRIEF, said))


def test_gladness_and_memories_are_no_answer_to_grief():
    said = "My grandfather passed away last night. He taught me how to fish."
    reply = "I'm SO glad you're doing well! I'll never forget the time he spent with me."
    found = problems(reply, GRIEF, said)
    assert any("cheer" in p for p in found) and any("life of its own" in p for p in found)


@pytest.mark.parametrize("reply", [
    "Ugh, how frustrating. What's wrong with you?",
    "That's a pretty bad thing. What was going on with them, huh?",
    "It was your own fault, but what happened next?",
])
def test_replies_that_dismiss_or_blame_the_person_fail(reply):
    angry = Appraisal(emotion="anger", intensity=0.6, cause="", need="to_be_heard")
    assert any("dismisses or blames" in p for p in problems(reply, angry))
    # asking what happened is not blame
    assert not any("dismisses" in p for p in problems("Ugh, how frustrating. What went wrong there?", angry))


def test_a_death_nobody_mentioned_fails_and_passing_a_test_is_no_loss():
    sad = Appraisal(emotion="sadness", intensity=0.5, cause="", need="to_be_heard")
    found = problems("That sounds so hard. What do you plan to do next for your life after she passed away?", sad,
                     "My best friend forgot my birthday.")
    assert any("death nobody mentioned" in p for p in found)
    assert passes("I'm so sorry. What was she like?", sad, "My grandmother passed away on Sunday.")
    assert not names_a_loss("I got passed over for the promotion again.")
    assert not names_a_loss("I passed my driving test!") and names_a_loss("She passed last night.")


def test_saying_it_does_not_understand_the_person_dismisses_them():
    sad = Appraisal(emotion="sadness", intensity=0.5, cause="", need="to_be_heard")
    reply = "I'm so sorry. I don't know what you're talking about, but it's not just a simple funeral."
    assert any("dismisses" in p for p in problems(reply, sad, "My grandfather passed away last night."))


@pytest.mark.parametrize("reply", [
    "I'm sorry, but I can't assist with that.",  # Qwen2.5-0.5B to someone given too much change (ED valid)
    "I cannot help with this, but I hope it works out.",
    "As an AI, I don't have feelings, but that sounds hard.",
    "I'm just a language model. How are you feeling?",
])
def test_an_assistants_refusal_or_disclaimer_fails(reply):
    said = "The cashier gave me too much change and I didn't notice until later."
    assert any("refusal or disclaimer" in p for p in problems(reply, QUESTION, said))


def test_being_sorry_is_not_a_refusal():
    said = "My dog died yesterday."
    assert not any("refusal" in p for p in problems("I'm so sorry, that must hurt. What was he like?", GRIEF, said))


def test_a_rambling_sentence_fails_and_a_long_reply_of_short_sentences_does_not():
    said = "I think my partner is cheating on me."
    ramble = ("That sounds so hard. How have the things in life always seem to be making us feel stuck and uncertain "
              "about how we should live our lives sometimes feels like a never-ending struggle?")
    assert any(p.startswith("a rambling sentence (") for p in problems(ramble, GRIEF, said))
    short = "That sounds so hard. Finding that out must hurt a lot. What makes you think so?"
    assert not any("rambling" in p for p in problems(short, GRIEF, said))
