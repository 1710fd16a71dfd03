"""Spoken turns on a worker thread (the live app), so the audio stream never waits for the LLM. Replay runs turns
inline instead, in order, so its timeline does not depend on the speed of the machine."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence

from ui.pipeline.events import Utterance
from ui.pipeline.stage import one_line
from ui.pipeline.timeline import Timeline


class TurnWorker:
    def __init__(self, run_turn: Callable[[Utterance], object], timeline: Timeline) -> None:
        self._run_turn = run_turn
        self._timeline = timeline
        self._queue: queue.Queue[Utterance | None] | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self.busy_turns = 0  # queued or running

    def process(self, item: Utterance) -> Sequence[None]:
        """Queue the utterance; its turn runs on the worker thread (started on the first)."""
        if self._thread is None:
            self._queue = queue.Queue()
            self._thread = threading.Thread(target=self._work, name="session-turns", daemon=True)
            self._thread.start()
        assert self._queue is not None, "made with the thread"
        with self._timeline.lock:
            self.busy_turns += 1
        self._queue.put(item)
        return ()

    def _work(self) -> None:
        assert self._queue is not None, "made before this thread starts"
        while not self._closed:
            item = self._queue.get()
            if item is None:
                break
            try:
                self._run_turn(item)
            except Exception as err:  # the worker must survive a failed turn
                self._timeline.problem(f"turn failed: {one_line(err)}")
            finally:
                with self._timeline.lock:
                    self.busy_turns = max(0, self.busy_turns - 1)
                    self._timeline.version += 1

    def purge(self, modality: str) -> None:
        """Utterances waiting for speech-to-text are microphone data too."""
        if modality != "voice" or self._queue is None:
            return
        while True:
            try:
                dropped = self._queue.get_nowait()
            except queue.Empty:
                break
            if dropped is not None:  # a dropped turn is no longer busy: else `busy` stayed true and wait_idle hung
                with self._timeline.lock:
                    self.busy_turns = max(0, self.busy_turns - 1)
                    self._timeline.version += 1

    def close(self) -> None:
        self._closed = True
        if self._queue is not None:
            self._queue.put(None)
