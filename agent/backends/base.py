"""The one interface every LLM backend implements."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol


class LLMError(Exception):
    """The backend failed (timeout, refused, HTTP error, missing model, malformed stream). One-line message."""


@dataclass(frozen=True)
class GenerationParams:
    max_tokens: int = 60
    temperature: float = 0.0  # 0 by default: replay must be deterministic
    top_p: float = 1.0
    repeat_penalty: float = 1.15  # SmolLM2 loops without it
    seed: int = 0
    stop: tuple[str, ...] = ()
    json_schema: dict | None = None  # constrain output to this schema where the backend can
    timeout_s: float = 30.0


class LLMBackend(Protocol):
    name: str  # "llamacpp", "transformers", "openai"
    model: str  # what a person would call the model
    remote: bool  # True when messages leave this machine
    capable: bool  # True when it can be trusted to write the appraisal as JSON
    # True when a last assistant message is continued rather than answered (the responder's opener needs it)
    continues_reply: bool

    def stream(self, messages: list[dict[str, str]], params: GenerationParams) -> Iterator[str]:
        """Yield the reply text piece by piece. Raises LLMError."""
        ...

    def close(self) -> None:
        ...


def one_line(error: object, limit: int = 300) -> str:
    """An error or server message squeezed to one short line, for LLMError and the UI status."""
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def complete(backend: LLMBackend, messages: list[dict[str, str]], params: GenerationParams) -> str:
    return "".join(backend.stream(messages, params))
