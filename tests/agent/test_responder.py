import pytest

from agent.backends.base import LLMError
from agent.exemplars import ExemplarRetriever
from agent.openers import OPENERS
from agent.reply_check import problems
from agent.responder import Responder, tidy_reply
from agent.safety import CRISIS_MESSAGES
from agent.templates import template_reply

GOOD_NEWS = "I finally got the job I interviewed for!"
GRIEF = "My dog died yesterday and the house feels so empty."


@pytest.fixture(scope="module")
def retriever():
    return ExemplarRetriever(embedder="tfidf")


class ScriptedBackend:
    """Answers from a list, one per call, and records what it was asked (a fault we cannot otherwise cause)."""

    name, model, remote, capable = "scripted", "scripted-1", False, False

    def __init__(self, answers):
        self.answers = list(answers)
        self.calls = []

    def stream(self, messages, params):
        self.calls.append((messages, params))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        for word in answer.split(" "):
            yield word + " "

    def close(self):
        pass


def test_good_first_attempt_is_generated(retriever):
    backend = ScriptedBackend(["Congratulations, you earned it! What will you do first in the new role?"])
    tokens = []
    reply = Responder(backend, retriever=retriever).respond(GOOD_NEWS, on_token=tokens.append)
    assert reply.route == "generated" and reply.status == ()
    assert reply.text == "Congratulations, you earned it! What will you do first in the new role?"
    assert len(tokens) > 5 and "".join(tokens).strip() == reply.text
    assert reply.appraisal.need == "celebration" and reply.backend == "scripted" and reply.model == "scripted-1"
    assert len(backend.calls) == 1 and backend.calls[0][1].temperature == 0.0


def test_failed_check_regenerates_once_with_other_exemplars(retriever):
    backend = ScriptedBackend(["I'm so sorry to hear that.", "That's wonderful news! How did you find out?"])
    restarts = []
    reply = Responder(backend, retriever=retriever, prompt="retrieved").respond(
        GOOD_NEWS, on_restart=lambda: restarts.append(1))
    assert reply.route == "generated" and reply.text == "That's wonderful news! How did you find out?"
    assert "condolence to good news" in reply.status[0]
    assert len(restarts) == 1
    first, second = (messages for messages, _ in backend.calls)
    assert first[1] != second[1]  # different exemplars on the retry
    assert backend.calls[1][1].temperature > 0


def test_compact_prompt_keeps_a_fixed_prefix_and_puts_the_appraisal_last():
    from agent.prompts import compact_prefix

    backend = ScriptedBackend(["I'm so sorry to hear that.", "That's wonderful news! How did you find out?"])
    reply = Responder(backend, prompt="compact").respond(GOOD_NEWS, history=[("user", "Guess what."),
                                                                           ("assistant", "Tell me!")])
    assert reply.route == "generated"
    prefix = compact_prefix()
    for messages, _ in backend.calls:  # both attempts start with the same cacheable prefix
        assert messages[:len(prefix)] == prefix
        assert messages[-2]["role"] == "system"
        assert messages[-1] == {"role": "user", "content": GOOD_NEWS}
        assert [m["content"] for m in messages[len(prefix):-2]] == ["Guess what.", "Tell me!"]
    assert "happy" in backend.calls[0][0][-2]["content"]  # the appraisal note: joy, in words


def test_auto_prompt_style_is_retrieved_only_for_the_embedded_small_model():
    from agent.responder import prompt_style_for

    small = type("B", (), {"model": "SmolLM2-135M-Instruct"})()
    large = type("B", (), {"model": "qwen2.5-1.5b"})()
    assert prompt_style_for(small) == "retrieved" and prompt_style_for(large) == "compact"
    assert prompt_style_for(None) == "retrieved" and prompt_style_for(small, "compact") == "compact"
    with pytest.raises(ValueError):
        prompt_style_for(large, "long")


def test_template_never_cheers_words_of_loss():
    from agent.contracts import Appraisal

    misread = Appraisal(emotion="joy", intensity=0.6, cause="she was the best sister", need="celebration")
    said = "My sister passed away last month. She was the best sister."
    reply = template_reply(misread, said)
    assert "wonderful" not in reply.lower() and problems(reply, misread, said) == []
    assert "wonderful" in template_reply(misread)  # without the words, the appraisal decides


def test_two_failed_checks_give_the_template(retriever):
    backend = ScriptedBackend(["Congratulations!!! You should get another dog.", "I feel sad too. So sad."])
    reply = Responder(backend, retriever=retriever).respond(GRIEF)
    assert reply.route == "fallback"
    assert reply.text == template_reply(reply.appraisal, GRIEF)
    assert len(reply.status) == 2 and all("failed the check" in s for s in reply.status)


def test_backend_error_gives_the_template_and_a_status(retriever):
    backend = ScriptedBackend([LLMError("llama.cpp: no reply within 30 s")])
    reply = Responder(backend, retriever=retriever).respond(GRIEF)
    assert reply.route == "fallback" and problems(reply.text, reply.appraisal) == []
    assert "no reply within 30 s" in reply.status[0]
    assert len(backend.calls) == 1  # an error is not retried: the backend is down, not the wording


def test_no_backend_gives_the_template():
    reply = Responder(None).respond(GRIEF)
    assert reply.route == "fallback" and reply.backend == "none"


@pytest.mark.parametrize("text", [
    "I want to kill myself",
    "i wanna kil myself tonight",
    "I've been cutting myself again",
    "He hits me when he's drunk",
    "my chest hurts and I can't breathe",
    "I feel suicdal",
])
def test_crisis_never_calls_the_llm(text):
    backend = ScriptedBackend([])
    reply = Responder(backend).respond(text)
    assert reply.route == "crisis"
    assert reply.text in CRISIS_MESSAGES.values()
    assert backend.calls == []
    assert any(flag in reply.appraisal.safety_flags for flag in ("suicide", "self_harm", "abuse", "medical_emergency"))


def test_negated_crisis_language_is_answered_and_flagged(retriever):
    backend = ScriptedBackend(["That sounds exhausting. What has been wearing you out the most?"])
    reply = Responder(backend, retriever=retriever).respond("I'm not suicidal, just really tired of everything")
    assert reply.route == "generated"
    assert reply.appraisal.safety_flags == ("near_crisis",)


def test_empty_text_is_a_clear_error():
    with pytest.raises(ValueError, match="empty"):
        Responder(None).respond("   ")


def test_stream_gives_tokens_then_the_reply(retriever):
    backend = ScriptedBackend(["That sounds so hard. What was he like?"])
    events = list(Responder(backend, retriever=retriever).stream(GRIEF))
    kinds = [kind for kind, _ in events]
    assert kinds.count("token") >= 5 and kinds[-1] == "reply"
    assert events[-1][1].text == "That sounds so hard. What was he like?"


def test_tidy_reply_keeps_two_sentences_or_three_with_a_question():
    assert tidy_reply("A b c. D e f. G h i. J k") == "A b c. D e f."
    assert tidy_reply("A b c. D e f. How are you?") == "A b c. D e f. How are you?"
    assert tidy_reply("Assistant: Hello there.") == "Hello there."


@pytest.fixture(scope="module")
def embedded():
    from agent.backends import make_backend

    backend = make_backend("llamacpp")
    yield Responder(backend)
    backend.close()


@pytest.mark.slow
def test_embedded_model_generates_a_reply_that_passes_the_check(embedded):
    tokens = []
    reply = embedded.respond(GRIEF, on_token=tokens.append)
    assert reply.route == "generated", reply.status
    assert problems(reply.text, reply.appraisal, GRIEF) == []
    assert reply.backend == "llamacpp" and reply.model == "SmolLM2-135M-Instruct"
    assert len(tokens) >= 5  # streamed piece by piece, not in one lump
    # the opener (the appraisal's reaction) is on screen first, and the model's words continue it
    assert tokens[0] in OPENERS["loss"] and reply.text.startswith(tokens[0] + " ")
    assert reply.first_token_s is not None and reply.first_token_s < reply.latency_s


@pytest.mark.slow
def test_embedded_model_streams_tokens_as_they_are_generated(embedded):
    seen = []
    for kind, value in embedded.stream("We adopted a puppy today!"):
        seen.append(kind)
        if kind == "reply":
            assert value.route in ("generated", "fallback")
    assert seen.count("token") >= 5 and seen[-1] == "reply"


def test_capable_backend_writes_the_appraisal_then_the_reply(retriever):
    import json

    backend = ScriptedBackend([
        json.dumps({"emotion": "sadness", "intensity": 0.9, "cause": "the house feels so empty",
                    "need": "to_be_heard"}),
        "That quiet must be so hard to come home to. What was he like?",
    ])
    backend.capable = True
    reply = Responder(backend, retriever=retriever).respond(GRIEF)
    assert reply.appraisal.source == "llm" and reply.appraisal.cause == "the house feels so empty"
    assert backend.calls[0][1].json_schema is not None and backend.calls[1][1].json_schema is None
    assert reply.route == "generated"


def test_capable_backend_with_bad_json_falls_back_to_code_appraisal(retriever):
    backend = ScriptedBackend(["{oops", "That quiet must be so hard to come home to. What was he like?"])
    backend.capable = True
    reply = Responder(backend, retriever=retriever).respond(GRIEF)
    assert reply.appraisal.source == "code" and "not valid JSON" in reply.status[0]
    assert reply.route == "generated"


def test_tidy_reply_capitalises():
    assert tidy_reply("that sounds hard. what happened?") == "That sounds hard. what happened?"
