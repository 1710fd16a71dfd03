"""The session's fusion: its tracker (fusion.fuse.FusionTracker), fed each reading, switched by consent. A modality
gated by a toggle starts off, like the toggle; switching it off purges what fusion buffered of it."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fusion.state import EmotionState
from ui.pipeline.consent import CONSENT_MODALITIES
from ui.pipeline.events import TimedCue
from ui.pipeline.models import Tracker
from ui.pipeline.stage import one_line


class FusionStage:
    def __init__(self, new_tracker: Callable[[], Tracker] | None, on_problem: Callable[[str], None]) -> None:
        self.tracker = new_tracker() if new_tracker else None
        self._problem = on_problem
        for modalities in CONSENT_MODALITIES.values():  # off until consent is given, like the toggles
            for modality in modalities:
                self.enable(modality, False)

    def enable(self, modality: str, on: bool) -> None:
        if self.tracker is not None:
            self.tracker.set_enabled(modality, on)  # off also purges what fusion buffered of it

    def process(self, item: TimedCue) -> Sequence[EmotionState]:
        """The fused state at the reading's time, when fusion kept the reading (nothing when it did not: its
        modality is off, it read nothing; or fusion failed, which is a problem in words)."""
        if self.tracker is None:
            return []
        try:
            if not self.tracker.update(item.cue):
                return []
            return [self.tracker.state(item.t_s)]
        except Exception as err:
            self._problem(f"fusion failed: {one_line(err)}")
            return []

    def state_at(self, t_s: float) -> EmotionState | None:
        """The state now, readings gone quiet faded (None without a tracker); raises what fusion raises."""
        return self.tracker.state(t_s) if self.tracker is not None else None

    def purge(self, modality: str) -> None:
        if self.tracker is not None:
            self.tracker.set_enabled(modality, False)

    def close(self) -> None:
        """Holds only memory."""
