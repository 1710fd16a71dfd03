"""The consent gate's state: four toggles, all off until the person turns them on, and the ledger of every change.

Which modalities a toggle gates comes from the registry (fusion/modalities.py): "camera" the face, "microphone" the
voice. "store" gates the recorder, "remote" whether words and cues may leave the machine for a remote LLM.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from fusion.modalities import gated_by

CONSENT_NAMES: tuple[str, ...] = ("camera", "microphone", "store", "remote")
CONSENT_MODALITIES: dict[str, tuple[str, ...]] = {name: gated_by(name) for name in CONSENT_NAMES if gated_by(name)}


@dataclass(frozen=True)
class ConsentChange:
    name: str
    granted: bool
    t_s: float  # session time
    time_utc: str


class ConsentState:
    """The four toggles, all off until the person turns them on, and the ledger of every change."""

    def __init__(self) -> None:
        self._granted = {name: False for name in CONSENT_NAMES}
        self.ledger: list[ConsentChange] = []
        self._lock = threading.Lock()

    def allows(self, name: str) -> bool:
        return self._granted[_check_consent_name(name)]

    def set(self, name: str, granted: bool, t_s: float) -> bool:
        """Record a change; returns False when the toggle already had that value (nothing written)."""
        name = _check_consent_name(name)
        with self._lock:
            if self._granted[name] == bool(granted):
                return False
            self._granted[name] = bool(granted)
            self.ledger.append(ConsentChange(name, bool(granted), round(t_s, 3),
                                             datetime.now(UTC).isoformat(timespec="milliseconds")))
            return True

    def as_dict(self) -> dict[str, bool]:
        return dict(self._granted)

    def __getattr__(self, name: str) -> bool:  # consent.camera, consent.microphone, ...
        if name in CONSENT_NAMES:
            return self._granted[name]
        raise AttributeError(name)


def _check_consent_name(name: str) -> str:
    if name not in CONSENT_NAMES:
        raise ValueError(f"unknown consent toggle {name!r}; known: {', '.join(CONSENT_NAMES)}")
    return name
