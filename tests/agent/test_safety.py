import pytest

from agent.safety import CRISIS_MESSAGES, NEAR_CRISIS_FLAG, check, crisis_message, normalise

CRISIS_PHRASINGS = [
    ("I want to kill myself", "suicide"),
    ("I've been thinking about suicide a lot", "suicide"),
    ("honestly I feel suicidal tonight", "suicide"),
    ("I don't want to live anymore", "suicide"),
    ("I just want to die", "suicide"),
    ("everyone would be better off without me", "suicide"),
    ("I'm going to end my life", "suicide"),
    ("I wish I was dead", "suicide"),
    ("there is no reason to live", "suicide"),
    ("I'd never do it, but I keep thinking about killing myself", "suicide"),
    ("my friend told me she wants to die", "suicide"),
    ("My brother says he doesn't see the point of living anymore", "suicide"),
    ("she does not want to live anymore", "suicide"),
    ("I keep cutting myself when it gets bad", "self_harm"),
    ("I hurt myself again last night", "self_harm"),
    ("I've started self-harming", "self_harm"),
    ("my husband hits me when he drinks", "abuse"),
    ("I was sexually abused as a kid and it still haunts me", "abuse"),
    ("he threatened to kill me if I leave", "abuse"),
    ("my chest hurts and my left arm is numb", "medical_emergency"),
    ("I can't breathe properly", "medical_emergency"),
    ("I think my dad is having a heart attack", "medical_emergency"),
    ("I took too many pills", "medical_emergency"),
    ("my friend overdosed and won't wake up", "medical_emergency"),
]

TYPOS = [
    ("i wanna kil myself", "suicide"),
    ("thinking about suicde", "suicide"),
    ("i feel sucidal", "suicide"),
    ("I want to kill myslef", "suicide"),
    ("KILL MYSELF", "suicide"),
    ("im gonna hurt mysefl", "self_harm"),
    ("i cant breath", "medical_emergency"),
]

NEGATED = [
    "I'm not suicidal, just tired",
    "I would never kill myself",
    "I don't want to die, I just want this week to end",
    "I'm not going to hurt myself, don't worry",
    "He never hits me, he just yells",
]

SAFE = [
    "I got the job!",
    "this movie killed me lol",
    "my boss will kill me if I'm late",
    "I filled myself up with cake",
    "I'm dying to see that concert",
    "the battery on my phone died",
    "my grandmother passed away last year and I miss her",
    "I am so tired of my commute",
]


@pytest.mark.parametrize("text, flag", CRISIS_PHRASINGS + TYPOS)
def test_crisis_phrasings_and_typos_are_flagged(text, flag):
    result = check(text)
    assert result.crisis
    assert flag in result.flags
    assert NEAR_CRISIS_FLAG not in result.flags


@pytest.mark.parametrize("text", NEGATED)
def test_negated_mentions_are_near_crisis_not_crisis(text):
    result = check(text)
    assert not result.crisis
    assert result.flags == (NEAR_CRISIS_FLAG,)


@pytest.mark.parametrize("text", SAFE)
def test_ordinary_words_are_not_flagged(text):
    assert check(text).flags == ()


def test_softer_hopeless_phrases_are_near_crisis():
    assert check("I can't go on like this").flags == (NEAR_CRISIS_FLAG,)


def test_the_most_urgent_message_is_chosen():
    flags = check("I took too many pills because I want to die").flags
    assert set(flags) >= {"medical_emergency", "suicide"}
    assert crisis_message(flags) == CRISIS_MESSAGES["medical_emergency"]


def test_messages_point_to_people_without_doubtful_numbers():
    for message in CRISIS_MESSAGES.values():
        assert "local emergency number" in message
        # only long-established numbers may be named
        import re
        numbers = set(re.findall(r"\b\d[\d ]*\d\b", message))
        assert numbers <= {"911", "999", "112", "988", "116 123"}


def test_typo_correction_keeps_first_letter():
    assert "killing" not in normalise("I was filling myself with food")
    assert "suicide" in normalise("suicde")


GRIEF = [
    "I'm overcome with grief since my sister died",  # "overcome" was "corrected" to "overdose": the crisis route
    "I was overcome when I saw my brother's old room",
    "my sister died of an overdose last year",
    "my mother passed away from a heart attack in May",
    "my brother died by suicide and I miss him every day",
    "my friend killed himself two years ago",
    "what a blessing to have had her for 90 years",
]


@pytest.mark.parametrize("text", GRIEF)
def test_grief_over_a_past_death_is_not_a_crisis(text):
    found = check(text)
    assert not found.crisis, (text, found)


def test_a_death_in_the_past_does_not_hide_a_risk_now():
    assert check("my sister died of an overdose and now I want to die too").crisis
    assert check("since my dad died I keep thinking about killing myself").crisis
    assert check("I think my dad is having a heart attack").flags == ("medical_emergency",)
    assert check("my friend killed himself last year").flags == (NEAR_CRISIS_FLAG,)


def test_hit_me_up_is_not_abuse():
    assert check("my cousin said to hit me up when I'm in town").flags == ()
    assert check("he hit me up and then he hit me").flags == ("abuse",)


@pytest.mark.parametrize("text", [
    "he doesnt want to live with his parents", "I don't want to live in this city", "I don't see the point of this"])
def test_wanting_not_to_live_somewhere_is_not_a_crisis(text):
    assert check(text).flags == ()


@pytest.mark.parametrize("text", ["I wish I could have died instead of my sister", "it should have been me, not him"])
def test_survivors_guilt_is_near_crisis_not_crisis(text):
    # grief with a wish to have died in someone's place: a check-in (concern), never the crisis route
    assert check(text).flags == (NEAR_CRISIS_FLAG,)
