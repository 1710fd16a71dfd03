"""EBG stage 1's "why": which turn of the conversation holds an emotion's cause, and the span within it.

    finder = CauseFinder.load()
    found = finder.find("That will be very nice . You're too kind .", "joy",
                        history=[("assistant", "I'd be happy to show you the sights tonight .")])
    found.turn, found.speaker, found.span   # -1, "agent", "I'd be happy to show you the sights tonight"

Two small logistic regressions trained on RECCON's DailyDialog train split (training/train_cause_finder.py):
- a turn model scores the person's message and each of the WINDOW_TURNS turns before it (causal emotion entailment):
  how far back, whose turn, the emotion, the words of the candidate and of the message, their overlap;
- a clause model scores the clauses of the chosen turn (causal span extraction): position, length, words, emotion;
  the span runs from the first to the last clause it keeps, so it is always verbatim.
Features are hashed (scikit-learn's FeatureHasher), so the weights are two plain arrays in an .npz, no pickle, and a
turn costs well under a millisecond. The turn window bounds the history read, however long the conversation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

WEIGHTS_PATH = Path(__file__).resolve().parent / "weights" / "cause_finder.npz"
WINDOW_TURNS = 5  # earlier turns read: 96% of RECCON train's cause turns lie within 5 turns back
HASH_FEATURES = 2 ** 16
MAX_WORDS_PER_TURN = 80  # a pasted essay is read by its first words; the cost per turn stays bounded

# Clause boundaries: sentence punctuation and commas, and before the conjunctions that start a new clause. On RECCON
# train the best run of these clauses covers the annotated span at token-F1 0.96 (plain punctuation: 0.94).
CLAUSE_BOUNDARY = re.compile(r"[.!?;,]+(?=\s|$)|(?<=\s)(?=(?:but|because|so|and|that|when|if|to)\s)", re.I)
WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
LEADING_CONNECTIVE = re.compile(r"^(and|but|because|so|or)\s+", re.I)


@dataclass(frozen=True)
class CauseFinding:
    """Where the cause is. `turn` 0 is the person's current message, -k the turn k back; `speaker` is "user" (the
    person's own words) or "agent" (what the agent said); `span` is verbatim from that turn ("" when none)."""

    turn: int
    speaker: str
    span: str
    own_span: str  # the cause quoted from the current message itself, whatever turn was chosen ("" none)
    confidence: float  # the turn model's probability for the chosen turn
    cause_turns: tuple[int, ...] = field(default_factory=tuple)  # every turn the model holds a cause, best first


def clause_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character offsets of the clauses of `text`, edge spaces excluded."""
    cuts = [0] + [m.end() for m in CLAUSE_BOUNDARY.finditer(text)] + [len(text)]
    spans = []
    for start, end in zip(cuts, cuts[1:]):
        piece = text[start:end]
        if piece.strip():
            spans.append((start + len(piece) - len(piece.lstrip()), end - (len(piece) - len(piece.rstrip()))))
    return spans


def words_of(text: str) -> list[str]:
    return WORD.findall(text.lower().replace("\u2019", "'"))[:MAX_WORDS_PER_TURN]


def tidy_span(text: str) -> str:
    """A span for people to read: no leading connective, no trailing punctuation; still a verbatim substring."""
    return LEADING_CONNECTIVE.sub("", text.strip()).rstrip(" .!?;,").strip()


def _bin(value: float, edges: Sequence[float]) -> int:
    return int(np.searchsorted(edges, value, side="right"))


def turn_features(offset: int, same_speaker: bool, candidate: str, target: str, emotion: str) -> dict[str, float]:
    """What the turn model sees of one candidate turn (offset 0 is the target message itself)."""
    cand, targ = words_of(candidate), words_of(target)
    where = f"o{max(offset, -WINDOW_TURNS)}"
    who = "self" if offset == 0 else ("same" if same_speaker else "other")
    features: dict[str, float] = {"bias": 1.0, where: 1.0, f"{where}|{emotion}": 1.0, f"who={who}": 1.0,
                                  f"who={who}|{emotion}": 1.0, f"{where}|{who}": 1.0}
    for word in set(cand):
        features[f"c:{word}|{who}"] = 1.0
    for word in set(targ[:12]) | ({targ[0] + "^"} if targ else set()):
        features[f"t:{word}|{where}"] = 1.0
    if offset != 0 and cand and targ:
        shared = set(cand) & set(targ)
        features[f"overlap|{who}"] = len(shared) / len(set(cand) | set(targ))
    features[f"clen={_bin(len(cand), (3, 6, 10, 16, 25))}|{who}"] = 1.0
    features[f"tlen={_bin(len(targ), (3, 6, 10, 16, 25))}|{where}"] = 1.0
    if candidate.rstrip().endswith("?"):
        features[f"cq|{where}"] = 1.0
    return features


def clause_features(clauses: Sequence[str], index: int, offset: int, emotion: str) -> dict[str, float]:
    """What the clause model sees of clause `index` of a turn's `clauses`, in a turn `offset` back."""
    n = len(clauses)
    own = "self" if offset == 0 else "earlier"
    words = words_of(clauses[index])
    features: dict[str, float] = {
        "bias": 1.0, f"pos={min(index, 5)}": 1.0, f"rpos={min(n - 1 - index, 5)}": 1.0, f"n={min(n, 8)}": 1.0,
        f"pos={min(index, 5)}|n={min(n, 8)}": 1.0, f"{own}|{emotion}": 1.0, own: 1.0,
        f"len={_bin(len(words), (2, 4, 7, 11, 16))}": 1.0, "rel": index / max(1, n - 1)}
    if clauses[index].rstrip().endswith("?"):
        features["question"] = 1.0
    if words:
        features[f"first={words[0]}"] = 1.0
    for word in set(words):
        features[f"w:{word}"] = 1.0
        features[f"w:{word}|{emotion}"] = 1.0
    for pair in set(zip(words, words[1:])):
        features[f"b:{pair[0]}_{pair[1]}"] = 1.0
    for side, at in (("prev", index - 1), ("next", index + 1)):
        if 0 <= at < n:
            near = words_of(clauses[at])
            if near:
                features[f"{side}first={near[0]}"] = 1.0
    return features


def hasher() -> Any:
    from sklearn.feature_extraction import FeatureHasher

    return FeatureHasher(n_features=HASH_FEATURES, input_type="dict", alternate_sign=False)


@dataclass(frozen=True)
class CauseFinder:
    turn_coef: np.ndarray  # (HASH_FEATURES,)
    turn_intercept: float
    clause_coef: np.ndarray  # (HASH_FEATURES,)
    clause_intercept: float
    turn_threshold: float  # an earlier turn at or above this probability also holds a cause
    clause_threshold: float  # a clause at or above this probability is part of the span
    unsure_below: float  # the best turn under this probability: the model is unsure and the rules decide
    own_bonus: float = 0.0  # added to the person's own message's score when choosing the one cause to carry

    @classmethod
    def load(cls, path: Path = WEIGHTS_PATH) -> CauseFinder:
        try:
            with np.load(path, allow_pickle=False) as stored:
                finder = cls(turn_coef=stored["turn_coef"].astype(np.float32),
                             turn_intercept=float(stored["turn_intercept"]),
                             clause_coef=stored["clause_coef"].astype(np.float32),
                             clause_intercept=float(stored["clause_intercept"]),
                             turn_threshold=float(stored["turn_threshold"]),
                             clause_threshold=float(stored["clause_threshold"]),
                             unsure_below=float(stored["unsure_below"]), own_bonus=float(stored["own_bonus"]))
        except (KeyError, ValueError, EOFError) as err:
            raise ValueError(f"{path}: not a cause-finder weights file ({err})") from err
        if finder.turn_coef.shape != (HASH_FEATURES,) or finder.clause_coef.shape != (HASH_FEATURES,):
            raise ValueError(f"{path}: weights of the wrong size for {HASH_FEATURES} hashed features")
        return finder

    @cached_property
    def _hasher(self) -> Any:
        return hasher()

    def _probs(self, rows: list[dict[str, float]], coef: np.ndarray, intercept: float) -> np.ndarray:
        logits = np.asarray(self._hasher.transform(rows) @ coef, dtype=np.float64).ravel() + intercept
        return 1.0 / (1.0 + np.exp(-logits))

    def turn_probs(self, text: str, emotion: str, history: Sequence[tuple[str, str]]) -> list[tuple[int, float]]:
        """(offset, probability) for the message and each of the last WINDOW_TURNS turns of `history`."""
        earlier = [(role, said) for role, said in list(history)[-WINDOW_TURNS:]]
        candidates = [(0, True, text)] + [(-(len(earlier) - i), role == "user", said)
                                          for i, (role, said) in enumerate(earlier)]
        rows = [turn_features(offset, same, said, text, emotion) for offset, same, said in candidates]
        return list(zip([offset for offset, _, _ in candidates], self._probs(rows, self.turn_coef,
                                                                             self.turn_intercept).tolist()))

    def span_in(self, said: str, offset: int, emotion: str) -> str:
        """The cause span within one turn: first to last clause the clause model keeps (its best one if none)."""
        spans = clause_spans(said)
        if not spans:
            return ""
        clauses = [said[a:b] for a, b in spans]
        probs = self._probs([clause_features(clauses, i, offset, emotion) for i in range(len(clauses))],
                            self.clause_coef, self.clause_intercept)
        kept = [i for i, p in enumerate(probs) if p >= self.clause_threshold] or [int(np.argmax(probs))]
        return tidy_span(said[spans[kept[0]][0]:spans[kept[-1]][1]])

    def find(self, text: str, emotion: str, history: Sequence[tuple[str, str]] = ()) -> CauseFinding:
        """The cause of `emotion` in `text`, looking back through `history` ((role, text) pairs, role "user" or
        "assistant"). Raises ValueError for empty text."""
        if not text or not text.strip():
            raise ValueError("no words to find a cause in")
        scored = self.turn_probs(text, emotion, history)
        said_at = {0: text}
        roles = {0: "user"}
        earlier = list(history)[-WINDOW_TURNS:]
        for i, (role, said) in enumerate(earlier):
            said_at[-(len(earlier) - i)] = said
            roles[-(len(earlier) - i)] = "user" if role == "user" else "agent"
        best_turn, best_p = max(scored, key=lambda tp: tp[1] + (self.own_bonus if tp[0] == 0 else 0.0))
        ranked = sorted(scored, key=lambda tp: -tp[1])
        cause_turns = tuple(t for t, p in ranked if t == best_turn or (t < 0 and p >= self.turn_threshold))
        own_span = self.span_in(text, 0, emotion)
        span = own_span if best_turn == 0 else self.span_in(said_at[best_turn], best_turn, emotion)
        return CauseFinding(turn=best_turn, speaker=roles[best_turn], span=span, own_span=own_span,
                            confidence=round(float(best_p), 4), cause_turns=cause_turns)

    def arrays(self) -> dict[str, np.ndarray | np.float64]:
        return {"turn_coef": self.turn_coef.astype(np.float32), "turn_intercept": np.float64(self.turn_intercept),
                "clause_coef": self.clause_coef.astype(np.float32),
                "clause_intercept": np.float64(self.clause_intercept),
                "turn_threshold": np.float64(self.turn_threshold),
                "clause_threshold": np.float64(self.clause_threshold),
                "unsure_below": np.float64(self.unsure_below), "own_bonus": np.float64(self.own_bonus)}
