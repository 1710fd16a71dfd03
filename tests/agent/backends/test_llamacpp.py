"""The embedded llama.cpp backend on the real SmolLM2-135M GGUF."""

from __future__ import annotations

import json

import pytest

from agent.backends import make_backend
from agent.backends.base import GenerationParams, LLMError, complete
from agent.backends.llamacpp import LlamaCppBackend

pytestmark = pytest.mark.slow

MESSAGES = [
    {"role": "system", "content": "You are a warm listener. Reply in one or two short sentences."},
    {"role": "user", "content": "My dog died yesterday and the house feels so empty without him."},
]


def test_streams_a_reply_in_several_pieces(embedded):
    pieces = list(embedded.stream(MESSAGES, GenerationParams(max_tokens=30)))
    assert len(pieces) > 3
    assert all(isinstance(p, str) and p for p in pieces)
    text = "".join(pieces)
    assert len(text.split()) >= 5
    assert embedded.name == "llamacpp" and embedded.remote is False
    assert embedded.capable is False  # the 135M default never writes the appraisal


def test_greedy_with_a_seed_is_deterministic(embedded):
    params = GenerationParams(max_tokens=25, temperature=0.0, seed=7)
    assert complete(embedded, MESSAGES, params) == complete(embedded, MESSAGES, params)


def test_max_tokens_and_stop_are_obeyed(embedded):
    short = list(embedded.stream(MESSAGES, GenerationParams(max_tokens=4)))
    assert 1 <= len(short) <= 4  # one piece per token at most
    full = complete(embedded, MESSAGES, GenerationParams(max_tokens=40))
    stop_word = full.split()[2]
    cut = complete(embedded, MESSAGES, GenerationParams(max_tokens=40, stop=(stop_word,)))
    assert stop_word not in cut
    assert full.startswith(cut.rstrip())


def test_json_schema_constrains_the_output(embedded):
    schema = {
        "type": "object",
        "properties": {"emotion": {"type": "string", "enum": ["joy", "sadness", "anger"]},
                       "cause": {"type": "string", "maxLength": 40}},
        "required": ["emotion", "cause"],
        "additionalProperties": False,
    }
    messages = MESSAGES + [{"role": "user", "content": "Answer as JSON with my emotion and its cause."}]
    text = complete(embedded, messages, GenerationParams(max_tokens=60, json_schema=schema))
    data = json.loads(text)
    assert set(data) == {"emotion", "cause"}
    assert data["emotion"] in {"joy", "sadness", "anger"}


def test_abandoning_a_stream_leaves_the_backend_usable(embedded):
    stream = embedded.stream(MESSAGES, GenerationParams(max_tokens=60))
    next(stream)
    stream.close()  # the consumer walks away mid-reply
    assert complete(embedded, MESSAGES, GenerationParams(max_tokens=5))


def test_a_prompt_longer_than_the_context_is_an_error(embedded):
    too_long = [{"role": "user", "content": "sad " * 3000}]
    with pytest.raises(LLMError, match="context"):
        complete(embedded, too_long, GenerationParams(max_tokens=5))


def test_a_tiny_timeout_is_an_error_not_a_hang(embedded):
    with pytest.raises(LLMError, match="timed out after"):
        complete(embedded, MESSAGES, GenerationParams(max_tokens=60, timeout_s=0.001))


def test_a_missing_gguf_is_a_one_line_error(tmp_path):
    with pytest.raises(LLMError, match="file not found") as err:
        LlamaCppBackend(tmp_path / "nope.gguf")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("content", [b"not a model at all" * 100, b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 4000])
def test_a_corrupt_gguf_is_a_one_line_error(tmp_path, content):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(content)
    with pytest.raises(LLMError, match="bad.gguf") as err:
        LlamaCppBackend(bad)
    assert "\n" not in str(err.value)


def test_any_gguf_by_path_through_the_registry(gguf_path, embedded):
    backend = make_backend("llamacpp", model=str(gguf_path), capable=False)
    assert backend.model == gguf_path.stem
    params = GenerationParams(max_tokens=12)
    assert complete(backend, MESSAGES, params) == complete(embedded, MESSAGES, params)  # same file, same output


def test_registry_rejects_unknown_kinds_and_misplaced_urls():
    with pytest.raises(LLMError, match="unknown LLM backend kind"):
        make_backend("gpt-magic")
    with pytest.raises(LLMError, match="takes no url"):
        make_backend("llamacpp", url="http://127.0.0.1:1/v1")
    with pytest.raises(LLMError, match="takes no option.*temperature"):
        make_backend("llamacpp", temperature=0.5)


def test_the_prompt_cache_option_keeps_greedy_replies_the_same(gguf_path, embedded):
    cached = LlamaCppBackend(gguf_path, cache_prompt=True)
    params = GenerationParams(max_tokens=20)
    other = [MESSAGES[0], {"role": "user", "content": "I passed my driving test this morning!"}]
    for messages in (MESSAGES, other, MESSAGES):  # the second and third reuse the cached system prompt
        assert complete(cached, messages, params) == complete(embedded, messages, params)


@pytest.mark.slow
def test_primed_prefix_cache_evaluates_only_new_tokens_and_replays_byte_identically():
    """The compact prompt's fixed prefix stays in llama.cpp's KV cache: a turn evaluates only its own tokens, and a
    conversation primed afresh repeats byte for byte whatever ran in between (what replay needs)."""
    from agent.backends.llamacpp import LlamaCppBackend
    from agent.responder import Responder

    backend = LlamaCppBackend(n_ctx=2048)
    responder = Responder(backend, prompt="compact", embedder="tfidf")
    conversation = ["My cat died this morning.", "She was nineteen and slept on my bed every night."]

    def talk(turns):
        history, replies = [], []
        for text in turns:
            reply = responder.respond(text, history=history)
            replies.append(reply.text)
            history += [("user", text), ("assistant", reply.text)]
        return replies

    first = talk(conversation)
    timings = backend.last_timings
    # the fixed prefix (256 tokens) came from the cache; only the turn's own tokens were read (the last turn, the
    # note, the words and the opener: under 200)
    assert timings["cache_n"] >= 250 and timings["prompt_n"] < 200, timings
    talk(["I got the job I wanted!", "I start on Monday."])  # another conversation fills the cache with its words
    assert talk(conversation) == first


def test_a_started_reply_is_continued_not_answered(embedded):
    # the responder's opener: llama.cpp's assistant prefill goes on from the given words instead of a new turn
    started = MESSAGES + [{"role": "assistant", "content": "I'm so sorry."}]
    params = GenerationParams(max_tokens=25, temperature=0.0, seed=0, stop=("\n",))
    continued = complete(embedded, started, params)
    fresh = complete(embedded, MESSAGES, params)
    assert embedded.continues_reply is True
    assert continued.strip() and continued != fresh
    assert "<|im_" not in continued and "assistant" not in continued.lower()
