"""The shared text sets in the one label space, with the previous turn where the data has one.

- GoEmotions (Reddit comments, Apache-2.0): `train_ekman.tsv` / `dev_ekman.tsv`, the official Ekman mapping; a
  multi-label row keeps every label (soft target). No previous turn.
- MELD (Friends dialogue, GPL-3.0): `train_sent_emo.csv` / `dev_sent_emo.csv`, the 7 names as they are; the previous
  turn is the dialogue's previous utterance. Rows are grouped by dialogue, so a tuning split never cuts one.
- EmpatheticDialogues situations (CC BY-NC 4.0): `situations_train.csv` / `situations_valid.csv`, 32 emotions mapped
  to the 7 by `label_map_7class.json` (approximate; no neutral). A situation is written alone: no previous turn.

Embeddings are cached as .npy under $EMPATHIC_EMBED_CACHE (default /tmp/empathic_text_emotion), keyed by the texts'
and the encoder's sha256, so a rerun only fits heads.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perception.cues import LABELS
from perception.text_emotion import SentenceEmbedder, clean_text

REPO = Path(__file__).resolve().parent.parent
# Raw label strings in the Ekman files index this order (goemotions/ekman_labels.txt); checked at load time.
EKMAN_FILE_LABELS = ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")
SET_NAMES = ("goemotions", "meld", "ed_situations")


def data_root() -> Path:
    return Path(os.environ.get("EMPATHIC_DATA", REPO.parent / "shared" / "data"))


def cache_dir() -> Path:
    return Path(os.environ.get("EMPATHIC_EMBED_CACHE", "/tmp/empathic_text_emotion"))


@dataclass(frozen=True)
class TextSet:
    """One split of one data set: the utterances, the turn before each ("" when none), multi-hot targets over
    LABELS, and a group id per row (the dialogue for MELD, the row itself elsewhere)."""

    name: str
    split: str
    texts: list[str]
    previous: list[str]
    targets: np.ndarray  # (n, 7) multi-hot over LABELS
    groups: np.ndarray  # (n,) int
    files: tuple[Path, ...]

    def __len__(self) -> int:
        return len(self.texts)


def _one_hot(label: str) -> np.ndarray:
    row = np.zeros(len(LABELS), dtype=np.float32)
    row[LABELS.index(label)] = 1.0
    return row


def read_goemotions(split: str) -> TextSet:
    folder = data_root() / "goemotions"
    file_labels = tuple(folder.joinpath("ekman_labels.txt").read_text().split())
    if file_labels != EKMAN_FILE_LABELS:
        raise SystemExit(f"{folder}/ekman_labels.txt has labels {file_labels}, expected {EKMAN_FILE_LABELS}")
    path = folder / f"{split}_ekman.tsv"
    texts, rows = [], []
    for line_number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split("\t")
        if len(parts) < 2:
            raise SystemExit(f"{path}:{line_number}: expected text<TAB>labels<TAB>id")
        row = np.zeros(len(LABELS), dtype=np.float32)
        for label_id in parts[1].split(","):
            row[LABELS.index(EKMAN_FILE_LABELS[int(label_id)])] = 1.0
        texts.append(clean_text(parts[0]))
        rows.append(row)
    return TextSet("goemotions", split, texts, [""] * len(texts), np.stack(rows), np.arange(len(texts)), (path,))


def _meld_text(raw: str) -> str:
    return clean_text(raw.replace("\u2019", "'"))


def read_meld(split: str) -> TextSet:
    path = data_root() / "meld_text" / f"{split}_sent_emo.csv"
    mapping = json.loads((data_root() / "label_map_7class.json").read_text(encoding="utf-8"))["meld_text"]
    texts, previous, rows, groups = [], [], [], []
    last_said: dict[str, str] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            dialogue = row["Dialogue_ID"]
            said = _meld_text(row["Utterance"])
            texts.append(said)
            previous.append(last_said.get(dialogue, ""))
            rows.append(_one_hot(mapping[row["Emotion"]]))
            groups.append(int(dialogue))
            last_said[dialogue] = said
    return TextSet("meld", split, texts, previous, np.stack(rows), np.asarray(groups), (path,))


def read_ed_situations(split: str) -> TextSet:
    path = data_root() / "empathetic_dialogues" / f"situations_{split}.csv"
    mapping = json.loads((data_root() / "label_map_7class.json").read_text(encoding="utf-8"))[
        "empathetic_dialogues_approx"]
    texts, rows = [], []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            text = clean_text(row["situation"])
            if not text:
                continue
            texts.append(text)
            rows.append(_one_hot(mapping[row["emotion"]]))
    return TextSet("ed_situations", split, texts, [""] * len(texts), np.stack(rows), np.arange(len(texts)), (path,))


# The head learns from the embeddings of every EMBED_EVERY-th distinct text of a train set (in sorted order: a
# deterministic subsample, blind to the labels). Encoding all 71k train texts on the shared 2-core box took longer
# than this round had; the word n-grams still read every row. 1 = all rows.
EMBED_EVERY: dict[str, int] = {"goemotions": 6, "meld": 1, "ed_situations": 3}


def take(text_set: TextSet, rows: np.ndarray, split: str | None = None) -> TextSet:
    """The given rows of a set (previous turns kept as text)."""
    return TextSet(text_set.name, split or text_set.split, [text_set.texts[i] for i in rows],
                   [text_set.previous[i] for i in rows], text_set.targets[rows], text_set.groups[rows],
                   text_set.files)


def embedded_rows(text_set: TextSet, every: int) -> np.ndarray:
    """Rows whose text is one of every `every`-th distinct text in sorted order."""
    kept = set(sorted({text for text in text_set.texts if text})[::every])
    return np.array([i for i, text in enumerate(text_set.texts) if text in kept], dtype=int)


def train_sets() -> list[TextSet]:
    return [read_goemotions("train"), read_meld("train"), read_ed_situations("train")]


def dev_sets() -> list[TextSet]:
    return [read_goemotions("dev"), read_meld("dev"), read_ed_situations("valid")]


def embed_cached(texts: list[str], embedder: SentenceEmbedder, tag: str) -> np.ndarray:
    """Unit-length embeddings of `texts` ("" -> zeros), from the cache when the same texts were encoded before."""
    digest = hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()[:16]
    path = cache_dir() / f"{tag}-{digest}-{embedder.weights_sha256[:16]}.npy"
    if path.exists():
        return np.load(path)
    started = time.perf_counter()
    unique = sorted({text for text in texts if text})
    vectors = embedder.embed(unique)
    index = {text: i for i, text in enumerate(unique)}
    out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
    for row, text in enumerate(texts):
        if text:
            out[row] = vectors[index[text]]
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, out)
    print(f"encoded {len(unique)} {tag} texts in {time.perf_counter() - started:.0f} s -> {path}", flush=True)
    return out


def embeddings_of(text_set: TextSet, embedder: SentenceEmbedder) -> tuple[np.ndarray, np.ndarray]:
    """(utterance embeddings, previous-turn embeddings with zero rows where there is none)."""
    tag = f"{text_set.name}-{text_set.split}"
    utterances = embed_cached(text_set.texts, embedder, tag)
    previous = np.zeros_like(utterances)
    # the previous turn is an earlier utterance of the same set: look its embedding up instead of encoding it again
    row_of = {text: i for i, text in enumerate(text_set.texts)}
    for i, text in enumerate(text_set.previous):
        if text:
            previous[i] = utterances[row_of[text]]
    return utterances, previous


def main() -> int:
    """Fill the embedding cache for every set (what the trainer reads)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(1)
    embedder = SentenceEmbedder(threads=1)
    for text_set in dev_sets() + train_sets():
        embeddings_of(text_set, embedder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
