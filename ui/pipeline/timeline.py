"""What the session has seen and said, as the UI, the tests and the recorder read it: the timeline of events (in
their stored dict shape), the counters, the problems in words, and a version bumped on every change the screen
would show. One re-entrant lock guards all of it, and the stages take that same lock for their own per-person data,
so the session's state changes as one.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from ui.pipeline.events import TimelineEvent

MAX_PROBLEMS = 50  # the newest kept: what the person sees is the last few
MAX_EVENTS = 20000  # the in-memory timeline of one session (about an hour of face readings at 5/s)
COUNTERS: tuple[str, ...] = (
    "frames_received", "frames_dropped_no_consent", "frames_dropped_busy", "frames_analyzed", "faces_found",
    "audio_chunks_received", "audio_chunks_dropped_no_consent", "audio_chunks_processed", "utterances", "turns",
    "replies", "purges",
)


class Timeline:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.events: deque[dict[str, Any]] = deque(maxlen=MAX_EVENTS)
        self.counters: dict[str, int] = {name: 0 for name in COUNTERS}
        self.problems: list[str] = []
        self.version = 0

    def add(self, event: TimelineEvent) -> dict[str, Any]:
        """Record EVENT; its stored shape, for the recorder."""
        record = event.to_dict()
        with self.lock:
            self.events.append(record)
            self.version += 1
        return record

    def count(self, counter: str, n: int = 1) -> None:
        with self.lock:
            self.counters[counter] += n

    def changed(self) -> None:
        with self.lock:
            self.version += 1

    def problem(self, message: str) -> None:
        with self.lock:
            if message not in self.problems:
                self.problems.append(message)
                del self.problems[:-MAX_PROBLEMS]  # an hour of varied errors must not grow without bound
            self.version += 1

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.events if e["kind"] == kind]

    def drop_kind(self, kind: str) -> None:
        with self.lock:
            self._keep([e for e in self.events if e["kind"] != kind])

    def drop_states_since_granted(self, toggle: str) -> None:
        """Drop the fused states since TOGGLE was last granted: states that used the face are face data too."""
        with self.lock:
            granted = [e["t_s"] for e in self.events if e["kind"] == "consent" and e.get("name") == toggle
                       and e.get("granted")]
            if not granted:
                return
            since_s = granted[-1]
            self._keep([e for e in self.events if not (e["kind"] == "state" and e["t_s"] >= since_s)])

    def _keep(self, kept: list[dict[str, Any]]) -> None:
        self.events.clear()
        self.events.extend(kept)
