"""The one interface every stage of the live pipeline has."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

In = TypeVar("In", contravariant=True)
Out = TypeVar("Out", covariant=True)


class Stage(Protocol[In, Out]):
    def process(self, item: In) -> Sequence[Out]:
        """What this item gives downstream: nothing, one thing or several."""
        ...

    def purge(self, modality: str) -> None:
        """Forget everything held of MODALITY (its consent was revoked): buffers, readings, per-person models."""
        ...

    def close(self) -> None:
        """The session ended: release what is held (threads, model handles, open files)."""
        ...


def one_line(err: BaseException) -> str:
    """An exception as the one line the person sees."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
