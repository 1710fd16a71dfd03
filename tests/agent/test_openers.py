import pytest

from agent.contracts import Appraisal
from agent.openers import OPENERS, opener_tone, reaction_opener, without_repeated_reaction
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
