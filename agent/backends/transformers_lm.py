"""Any causal LM that transformers can load: a hub name already in the local cache, a local folder, or a GGUF file.

Offline only by default (local_files_only): the project never fetches from a model hub at run time. A GGUF file is
de-quantized by transformers (needs the `gguf` and `accelerate` packages), which is how the embedded SmolLM2 file
also runs here. Generation runs on a worker thread feeding a TextIteratorStreamer; a stopping criterion watches a
cancel flag so an abandoned or timed-out stream stops the model at the next token. transformers has no grammar
sampler, so `json_schema` is not enforced here (the caller validates what comes back).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agent.backends.base import GenerationParams, LLMError, one_line

# Loading costs seconds (tens for a GGUF): one copy per (model, gguf_file) for the whole process.
_LOADED: dict[tuple[str, str | None], tuple[Any, Any]] = {}
_LOAD_LOCK = threading.Lock()


def _split_gguf(model: str, gguf_file: str | None) -> tuple[str, str | None]:
    """transformers wants (folder, file name) for a GGUF; accept a plain path to the file too."""
    if gguf_file is None and model.endswith(".gguf"):
        path = Path(model)
        return str(path.parent), path.name
    return model, gguf_file


def _converted_dir(gguf: Path) -> Path:
    """Where the de-quantized copy of a GGUF is kept: converting takes ~45 s here, loading the copy ~2 s."""
    from basics.assets import cache_dir

    stat = gguf.stat()
    return cache_dir() / "transformers-from-gguf" / f"{gguf.stem}-{stat.st_size}-{stat.st_mtime_ns}"


def _load(model: str, gguf_file: str | None, allow_download: bool) -> tuple[Any, Any]:
    key = (model, gguf_file)
    with _LOAD_LOCK:
        if key in _LOADED:
            return _LOADED[key]
        converted: Path | None = None
        if gguf_file is not None:
            if not (Path(model) / gguf_file).is_file():
                raise LLMError(f"transformers model {Path(model) / gguf_file}: file not found")
            converted = _converted_dir(Path(model) / gguf_file)
            if (converted / "config.json").is_file():
                model, gguf_file, converted = str(converted), None, None
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
            from transformers.utils import logging as hf_logging
        except ImportError as err:
            raise LLMError(f"transformers backend needs torch and transformers: {err}") from None
        hf_logging.disable_progress_bar()  # GGUF de-quantizing draws a progress bar per tensor on stderr
        kw: dict[str, Any] = {"local_files_only": not allow_download}
        if gguf_file is not None:
            kw["gguf_file"] = gguf_file
        try:
            tokenizer = AutoTokenizer.from_pretrained(model, **kw)
            lm = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32, **kw)
        except Exception as err:  # OSError (not cached / offline), ValueError (not a causal LM), ImportError (gguf)
            where = f"{model}/{gguf_file}" if gguf_file else model
            raise LLMError(f"transformers model {where!r} cannot be loaded offline: {one_line(err, 200)}") from None
        lm.eval()
        if converted is not None:
            _save_converted(lm, tokenizer, converted)
        _LOADED[key] = (lm, tokenizer)
        return lm, tokenizer


def _save_converted(lm: Any, tokenizer: Any, target: Path) -> None:
    """Best effort: a failed save only costs the next load time, so it never fails the backend.

    transformers refuses save_pretrained on a model it loaded from GGUF (it counts as quantized), but the weights
    are plain float32 after de-quantizing: write them with safetensors and the config without its quantization entry.
    """
    import copy
    import shutil
    import tempfile

    from safetensors.torch import save_model

    partial: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(dir=target.parent, prefix=target.name + ".partial-"))
        config = copy.deepcopy(lm.config)
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        config.save_pretrained(partial)
        save_model(lm, str(partial / "model.safetensors"))
        tokenizer.save_pretrained(partial)
        partial.rename(target)  # atomic: a half-written copy never carries the final name
    except (OSError, ValueError, RuntimeError):
        if partial is not None:
            shutil.rmtree(partial, ignore_errors=True)


def _prompt_ids(tokenizer: Any, messages: list[dict[str, str]]) -> Any:
    # a last assistant message is the start of the reply (the responder's opener): the model continues it
    started = messages[-1]["content"] if messages and messages[-1]["role"] == "assistant" else None
    if getattr(tokenizer, "chat_template", None):
        encoded = tokenizer.apply_chat_template(messages, add_generation_prompt=started is None,
                                                continue_final_message=started is not None, return_tensors="pt",
                                                return_dict=True)
        return encoded["input_ids"], encoded.get("attention_mask")
    # base models without a chat template: plain "role: text" lines, the assistant's turn left open
    before = messages[:-1] if started is not None else messages
    text = "".join(f"{m['role']}: {m['content']}\n" for m in before) + "assistant:" + (
        f" {started}" if started is not None else "")
    encoded = tokenizer(text, return_tensors="pt")
    return encoded["input_ids"], encoded.get("attention_mask")


class TransformersBackend:
    """A causal LM run by transformers on the CPU (or `device`)."""

    name = "transformers"
    remote = False
    continues_reply = True  # a last assistant message is continued (continue_final_message), see the responder

    def __init__(self, model: str, capable: bool = False, n_threads: int | None = None, device: str = "cpu",
                 gguf_file: str | None = None, allow_download: bool = False) -> None:
        folder, gguf = _split_gguf(str(model), gguf_file)
        self.model = str(model)
        self.capable = capable  # no grammar here: only trust a model the caller vouches for
        self.device = device
        if n_threads is not None:
            import torch

            torch.set_num_threads(n_threads)  # process-wide; only when asked
        self._lm, self._tokenizer = _load(folder, gguf, allow_download)
        if device != "cpu":
            self._lm.to(device)
        self._generate_lock = threading.Lock()  # one generation at a time per backend: the seed is process-wide

    def stream(self, messages: list[dict[str, str]], params: GenerationParams) -> Iterator[str]:
        if self._lm is None:
            raise LLMError(f"transformers backend for {self.model} is closed")
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        cancel = threading.Event()

        class _Cancelled(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs) -> bool:
                return cancel.is_set()

        try:
            input_ids, attention_mask = _prompt_ids(self._tokenizer, messages)
        except Exception as err:
            raise LLMError(f"transformers: cannot build the prompt: {one_line(err)}") from None
        streamer = TextIteratorStreamer(self._tokenizer, skip_prompt=True, skip_special_tokens=True,
                                        timeout=params.timeout_s)
        sampling = params.temperature > 0
        gen_kw: dict[str, Any] = {
            "input_ids": input_ids.to(self.device),
            "max_new_tokens": params.max_tokens,
            "do_sample": sampling,
            "repetition_penalty": params.repeat_penalty,
            "streamer": streamer,
            "stopping_criteria": StoppingCriteriaList([_Cancelled()]),
            "pad_token_id": self._tokenizer.pad_token_id if self._tokenizer.pad_token_id is not None
            else self._tokenizer.eos_token_id,
        }
        if attention_mask is not None:
            gen_kw["attention_mask"] = attention_mask.to(self.device)
        if sampling:
            gen_kw.update(temperature=params.temperature, top_p=params.top_p)
        failure: list[BaseException] = []

        def work() -> None:
            with self._generate_lock:
                try:
                    torch.manual_seed(params.seed)
                    with torch.inference_mode():
                        self._lm.generate(**gen_kw)
                except Exception as err:  # surfaced to the consumer below
                    failure.append(err)
                    streamer.end()

        worker = threading.Thread(target=work, name="transformers-stream", daemon=True)
        worker.start()
        held = ""  # text that might be the start of a stop string, not yet passed on
        try:
            deadline = time.monotonic() + params.timeout_s
            for piece in _pieces(streamer, params.timeout_s):
                if time.monotonic() > deadline:
                    raise LLMError(f"transformers: reply not finished within {params.timeout_s:g} s")
                held += piece
                cut = _first_stop(held, params.stop)
                if cut is not None:
                    if held[:cut]:
                        yield held[:cut]
                    return
                safe = len(held) - _longest_stop_prefix(held, params.stop)
                if safe > 0:
                    yield held[:safe]
                    held = held[safe:]
            if failure:
                raise LLMError(f"transformers generation failed: {one_line(failure[0])}")
            if held:
                yield held
        finally:
            cancel.set()

    def close(self) -> None:
        # the loaded weights are shared through the module cache with other backends on the same model
        self._lm = None


def _pieces(streamer: Any, timeout_s: float) -> Iterator[str]:
    import queue

    try:
        for piece in streamer:
            if piece:
                yield piece
    except queue.Empty:
        raise LLMError(f"transformers: no next token within {timeout_s:g} s") from None


def _first_stop(text: str, stops: tuple[str, ...]) -> int | None:
    hits = [text.find(s) for s in stops if s and s in text]
    return min(hits) if hits else None


def _longest_stop_prefix(text: str, stops: tuple[str, ...]) -> int:
    """How many trailing characters of text could still grow into a stop string."""
    best = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), 0, -1):
            if text.endswith(stop[:n]):
                best = max(best, n)
                break
    return best
