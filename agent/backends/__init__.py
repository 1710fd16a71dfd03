"""LLM backends: one small module each behind the LLMBackend interface in base.py, and the registry that picks one.

    backend = make_backend()                                     # embedded SmolLM2-135M via llama.cpp
    backend = make_backend("llamacpp", model="/models/x.gguf")   # any GGUF
    backend = make_backend("transformers", model="HuggingFaceTB/SmolLM2-360M-Instruct")
    backend = make_backend("openai", model="llama3.2", url="http://127.0.0.1:11434/v1")
    for piece in backend.stream(messages, GenerationParams()): ...
"""

from __future__ import annotations

from typing import Any

from agent.backends.base import GenerationParams, LLMBackend, LLMError, complete, one_line

KINDS: tuple[str, ...] = ("llamacpp", "transformers", "openai")
# the keyword options each kind takes beyond model/url/api_key
OPTIONS: dict[str, frozenset[str]] = {
    "llamacpp": frozenset({"n_ctx", "n_threads", "capable", "cache_prompt"}),
    "transformers": frozenset({"capable", "n_threads", "device", "gguf_file", "allow_download"}),
    "openai": frozenset({"capable", "connect_timeout_s"}),
}

__all__ = ["KINDS", "OPTIONS", "GenerationParams", "LLMBackend", "LLMError", "complete", "make_backend", "one_line"]


def make_backend(kind: str = "llamacpp", model: str | None = None, url: str | None = None,
                 api_key: str | None = None, **kw: Any) -> LLMBackend:
    """Build a backend by kind. Raises LLMError (one line) for an unknown kind or a model that cannot be loaded.

    llamacpp:     model = GGUF path (None: the embedded SmolLM2-135M); kw: n_ctx, n_threads, capable, cache_prompt.
    transformers: model = hub name in the local cache, local folder or .gguf path (required); kw: n_threads,
                  capable, device, gguf_file, allow_download.
    openai:       url = base URL ending in /v1 (required), model = served model name (None: the first the server
                  lists), api_key (None: $OPENAI_API_KEY if set); kw: capable, connect_timeout_s.
    """
    unknown = set(kw) - OPTIONS.get(kind, frozenset(kw))
    if unknown:
        raise LLMError(f"LLM backend {kind!r} takes no option(s) {', '.join(sorted(unknown))}; "
                       f"it takes {', '.join(sorted(OPTIONS[kind]))}")
    if kind == "llamacpp":
        if url is not None:
            raise LLMError("the llamacpp backend runs in-process and takes no url; use kind 'openai' for a server")
        from agent.backends.llamacpp import LlamaCppBackend

        return LlamaCppBackend(model, **kw)
    if kind == "transformers":
        if not model:
            raise LLMError("the transformers backend needs a model: a hub name or a local folder")
        from agent.backends.transformers_lm import TransformersBackend

        return TransformersBackend(model, **kw)
    if kind == "openai":
        if not url:
            raise LLMError("the openai backend needs a base url, e.g. http://127.0.0.1:11434/v1")
        from agent.backends.openai_http import OpenAIHTTPBackend

        return OpenAIHTTPBackend(url, model=model, api_key=api_key, **kw)
    raise LLMError(f"unknown LLM backend kind {kind!r}; known: {', '.join(KINDS)}")
