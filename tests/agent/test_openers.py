import pytest

from agent.contracts import Appraisal
from agent.openers import OPENERS, is_opener, opener_tone, reaction_opener, without_repeated_reaction
from agent.reply_check import problems, valence_consistent
from agent.responder import Responder
from evaluation.reply_scores import emotional_reaction


def appraisal(emotion, need="to_be_heard", intensity=0.5):
    return Appraisal(emotion=emotion, intensity=intensity, cause="", need=need)


@pytest.mark.parametrize(("emotion", "need", "said", "tone"), [
    ("sadness", "to_be_heard", "My dog died yesterday.", "loss"),
    ("sadness", "to_be_heard", "My best friend forgot my birthday.", "sadness"),
    ("anger", "to_be_heard", "My landlord kept my whole deposit.", "anger"),
    ("fear", "reassurance", "I have my driving test tomorrow and I can't sleep.", "fear"),
    ("joy", "celebration", "I got the job!", "celebration"),
    ("joy", "to_be_heard", "We spent the whole day at the beach.", "joy"),
    # no tone of their own: the model writes the whole reply
    ("neutral", "to_be_heard", "We're moving house next week.", None),
    ("surprise", "to_be_heard", "My brother called out of the blue.", None),
    # a loss read as joy: mixed signals, no cheer
    ("joy", "celebration", "My sister passed away, she was the best person I knew.", None),
])
def test_the_tone_follows_the_appraisal_and_the_words(emotion, need, said, tone):
    assert opener_tone(appraisal(emotion, need), said) == tone


def test_every_opener_voices_a_reaction_of_its_own_tone():
    truths = {"loss": appraisal("sadness"), "sadness": appraisal("sadness"), "anger": appraisal("anger"),
              "disgust": appraisal("disgust"), "fear": appraisal("fear", "reassurance"),
              "joy": appraisal("joy"), "celebration": appraisal("joy", "celebration")}
    for tone, wordings in OPENERS.items():
        for opener in wordings:
            truth = truths[tone]
            assert emotional_reaction(opener, truth), opener
            assert valence_consistent(opener, truth), opener
            # a whole sentence the check accepts once the model has added its part
            assert problems(f"{opener} How are you doing with it all?", truth) == [], opener


def test_the_opener_is_deterministic_and_not_the_last_turns_wording():
    grief = appraisal("sadness")
    said = "My dog died yesterday."
    first = reaction_opener(grief, said)
    assert first == reaction_opener(grief, said) and first in OPENERS["loss"]
    again = reaction_opener(grief, said, history=[("user", "hi"), ("assistant", f"{first} What was he like?")])
    assert again != first and again in OPENERS["loss"]


def test_a_continuation_that_only_says_the_opener_again_loses_that_sentence():
    assert without_repeated_reaction("I'm so sorry.", "I'm sorry to hear that. What was he like?") == \
        "What was he like?"
    assert without_repeated_reaction("I'm so sorry.", " What was he like?") == "What was he like?"
    # a lone reaction is all the model said: kept (the check then judges the reply's length)
    assert without_repeated_reaction("I'm so sorry.", "I'm sorry to hear that.") == "I'm sorry to hear that."


class ContinuingBackend:
    """Continues a started reply, as llama.cpp's assistant prefill does, and records what it was asked."""

    name, model, remote, capable = "continuing", "continuing-1", False, False

    def __init__(self, continuation, continues_reply=True):
        self.continuation, self.continues_reply, self.calls = continuation, continues_reply, []

    def stream(self, messages, params):
        self.calls.append(messages)
        yield from self.continuation.split("|")

    def close(self):
        pass


def test_the_responder_says_the_opener_first_and_the_model_continues_it():
    backend = ContinuingBackend("What| was| he| like?")
    tokens = []
    reply = Responder(backend, retriever=None, prompt="compact").respond(
        "My dog died yesterday and the house feels so empty.", on_token=tokens.append)
    sent = backend.calls[0][-1]
    assert sent["role"] == "assistant" and sent["content"] in OPENERS["loss"]
    assert tokens[0] == sent["content"] and tokens[1] == " What"  # the opener is on screen before the model speaks
    assert reply.route == "generated" and reply.text == f"{sent['content']} What was he like?"
    assert reply.first_token_s is not None and reply.first_token_s <= reply.latency_s


def test_a_backend_that_cannot_continue_a_reply_writes_it_whole():
    backend = ContinuingBackend("I'm so sorry about your dog.| What was he like?", continues_reply=False)
    reply = Responder(backend, retriever=None, prompt="compact").respond(
        "My dog died yesterday and the house feels so empty.")
    assert backend.calls[0][-1]["role"] == "user"
    assert reply.text == "I'm so sorry about your dog. What was he like?"


def test_the_continuation_starts_its_own_sentence():
    assert without_repeated_reaction("How exciting!", " that's a great way to celebrate.") == \
        "That's a great way to celebrate."


def test_a_failed_model_keeps_the_opener_the_person_has_seen():
    # both attempts fail the check: the template takes over but keeps the opener in place of its own reaction
    backend = ContinuingBackend("I'll never forget my own dog.")
    events = []
    said = "My dog died yesterday and the house feels so empty."
    reply = Responder(backend, retriever=None, prompt="compact").respond(
        said, on_token=events.append, on_restart=lambda: events.append(None))
    opener = backend.calls[0][-1]["content"]
    assert is_opener(opener) and not is_opener(reply.text)
    assert reply.route == "fallback" and reply.text.startswith(opener + " ") and reply.text.count("sorry") == 1
    assert problems(reply.text, reply.appraisal, said) == []
    # the first words of every attempt, and of the fallback, are the opener: nothing the person saw is taken back
    firsts = [events[0]] + [events[i + 1] for i, e in enumerate(events[:-1]) if e is None]
    assert len(firsts) == 3 and firsts[:2] == [opener, opener] and firsts[2].startswith(opener)


@pytest.mark.parametrize(("emotion", "need", "said"), [
    ("sadness", "to_be_heard", "My dog died yesterday."),
    ("sadness", "to_be_heard", "My best friend forgot my birthday."),
    ("anger", "to_be_heard", "My landlord kept my whole deposit."),
    ("anger", "information", "My landlord kept my deposit. How do I get it back?"),
    ("disgust", "to_be_heard", "There was a hair in my soup."),
    ("fear", "reassurance", "I have my driving test tomorrow and I can't sleep."),
    ("joy", "to_be_heard", "We spent the whole day at the beach."),
    ("joy", "celebration", "I got the job!"),
])
def test_every_template_after_an_opener_reads_as_one_reply_and_passes_the_check(emotion, need, said):
    from agent.templates import template_reply

    for cause in ("", said.rstrip(".!?")):
        read = Appraisal(emotion=emotion, intensity=0.5, cause=cause, need=need)
        opener = reaction_opener(read, said)
        reply = template_reply(read, said, opener)
        assert opener and reply.startswith(opener + " ") and len(reply) > len(opener) + 5, reply
        assert problems(reply, read, said) == [], reply
