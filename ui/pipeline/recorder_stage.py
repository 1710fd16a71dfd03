"""The recorder's stage: what the session hands its `on_store` hook (ui/recorder.py's SessionRecorder, or replay's
events file), only while "store" consent is on.

The hook is called with each event; where it has them, `begin(ledger)`, `consent(change)`, `audio(samples_16k, t_s)`,
`frame(rgb, t_s)` and `end()` are called too. A failing hook (a full disk) is a problem in words, never the end of
the conversation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from perception.cues import as_json
from ui.pipeline.consent import ConsentState
from ui.pipeline.stage import one_line


class StoreHook(Protocol):
    def __call__(self, event: dict) -> None: ...


class RecorderStage:
    def __init__(self, hook: StoreHook | Callable[[dict], None] | None, consent: ConsentState,
                 on_problem: Callable[[str], None]) -> None:
        self.hook = hook
        self._consent = consent
        self._problem = on_problem

    def store(self, what: str, *args: Any, gate: bool = True) -> None:
        """Hand the hook WHAT ("event" or one of its methods); `gate=False` only for the change that turns storing
        off (and the end), so the stored ledger shows where the recording ended."""
        if self.hook is None or (gate and not self._consent.allows("store")):
            return
        write = self.hook if what == "event" else getattr(self.hook, what, None)
        if not callable(write):
            return
        try:
            write(*args)
        except Exception as err:  # a full disk must not end the conversation
            self._problem(f"recording failed: {one_line(err)}")

    def process(self, item: dict) -> Sequence[None]:
        """A timeline event (its stored shape), kept while "store" is on."""
        self.store("event", as_json(item))
        return ()

    def purge(self, modality: str) -> None:
        """Nothing: what was stored stays until the person forgets the session (storing stops with "store")."""

    def close(self) -> None:
        self.store("end", gate=False)  # the recorder closes its files (what it wrote stays until forgotten)
