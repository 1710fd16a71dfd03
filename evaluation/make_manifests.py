"""Write ablation manifests for the development data: `python -m evaluation.make_manifests --out DIR`.

The data stays where it is (../shared/data, or $EMPATHIC_DATA): the manifests point at it with paths relative to
DIR. Labels go through the data README's 7-class mapping (label_map_7class.json). One manifest per set:

- ravdess_dev.jsonl: RAVDESS dev actors 02, 04, 09, 11, 240 clips; text null, so the words come from speech-to-text
  (the two sentences are neutral for every emotion: the voice carries the emotion).
- meld_dev_text.jsonl: MELD dev utterances, text only; context = the dialogue's earlier utterances.
- goemotions_dev.jsonl: GoEmotions dev (Ekman view), rows with exactly one label only (the manifest holds one label;
  multi-label rows are counted and left out).
- fer2013_publictest.jsonl: FER2013 PublicTest images (minus near-duplicates of PrivateTest).
- emodb.jsonl: Emo-DB subset (German), boredom dropped (no target class); text from speech-to-text (English model).
- cremad.jsonl: the 7 CREMA-D clips there are, intended emotion.
- pyaudioanalysis_va.jsonl: 47 clips with continuous valence/arousal and no class (checks valence/arousal error).
- empathetic_dialogues_valid.jsonl: ED valid contexts, the last speaker turn as text, earlier turns as context, the
  listener's reply as reference_reply, the approximate 7-class mapping as label (for --responses).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from evaluation.manifest import write_manifest

REPO = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    return Path(os.environ.get("EMPATHIC_DATA", REPO.parent / "shared" / "data"))


def _label_map(root: Path, key: str) -> dict:
    return json.loads((root / "label_map_7class.json").read_text(encoding="utf-8"))[key]


def _rel(path: Path, out: Path) -> str:
    return os.path.relpath(path.resolve(), out.resolve())


def ravdess(root: Path, out: Path) -> Iterator[dict]:
    mapping = _label_map(root, "ravdess_speech_dev")
    folder = root / "ravdess_speech_dev"
    with (folder / "labels.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            yield {"id": f"ravdess/{row['file']}", "audio": _rel(folder / "wav16k" / row["file"], out),
                   "label": mapping[row["emotion"]]}


def meld(root: Path, out: Path) -> Iterator[dict]:
    mapping = _label_map(root, "meld_text")
    earlier: dict[str, list[str]] = {}
    with (root / "meld_text" / "dev_sent_emo.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            dialogue = row["Dialogue_ID"]
            said = " ".join(row["Utterance"].replace("\u2019", "'").split())
            yield {"id": f"meld/{dialogue}_{row['Utterance_ID']}", "text": said, "label": mapping[row["Emotion"]],
                   "context": list(earlier.get(dialogue, [])[-4:]) or None}
            earlier.setdefault(dialogue, []).append(said)


def goemotions(root: Path, out: Path, skipped: dict) -> Iterator[dict]:
    names = (root / "goemotions" / "ekman_labels.txt").read_text(encoding="utf-8").split()
    with (root / "goemotions" / "dev_ekman.tsv").open(encoding="utf-8") as handle:
        for line in handle:
            text, ids, comment_id = line.rstrip("\n").split("\t")
            labels = ids.split(",")
            if len(labels) != 1:
                skipped["goemotions_dev multi-label rows"] = skipped.get("goemotions_dev multi-label rows", 0) + 1
                continue
            yield {"id": f"goemotions/{comment_id}", "text": text, "label": names[int(labels[0])]}


def fer2013(root: Path, out: Path) -> Iterator[dict]:
    mapping = _label_map(root, "fer2013_publictest")
    folder = root / "fer2013_publictest"
    with (folder / "labels.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            yield {"id": f"fer/{Path(row['file']).stem}", "image": _rel(folder / row["file"], out),
                   "label": mapping[row["label"]]}


def emodb(root: Path, out: Path, skipped: dict) -> Iterator[dict]:
    mapping = _label_map(root, "emodb_subset")
    folder = root / "emodb_subset"
    with (folder / "labels.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            label = mapping.get(row["emotion"])
            if label is None:
                key = f"emodb {row['emotion']} (no target)"
                skipped[key] = skipped.get(key, 0) + 1
                continue
            yield {"id": f"emodb/{row['file']}", "audio": _rel(folder / "wav" / row["file"], out), "label": label}


def cremad(root: Path, out: Path) -> Iterator[dict]:
    mapping = _label_map(root, "cremad_verified")
    folder = root / "cremad_verified"
    with (folder / "labels.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            yield {"id": f"cremad/{row['file']}", "audio": _rel(folder / "wav" / row["file"], out),
                   "label": mapping[row["intended_emotion"]]}


def pyaudioanalysis(root: Path, out: Path) -> Iterator[dict]:
    folder = root / "pyaudioanalysis_speech_arousal_valence"

    def read(name: str) -> dict[str, float]:
        values = {}
        for line in (folder / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                file, value = line.split(",")
                values[file.strip()] = float(value)
        return values

    valence, arousal = read("valence.csv"), read("arousal.csv")
    for file in sorted(set(valence) | set(arousal)):
        if (folder / "wav" / file).is_file():
            yield {"id": f"pyaudioanalysis/{file}", "audio": _rel(folder / "wav" / file, out),
                   "valence": valence.get(file), "arousal": arousal.get(file)}


def _detokenise(text: str) -> str:
    # ED text is tokenised ("i 'm", "do n't"); undo the spacing so it reads like typed text
    text = " ".join(text.split()).replace("_comma_", ",")
    for spaced, joined in ((" ' ", "'"), (" 's", "'s"), (" n't", "n't"), (" ,", ","), (" .", "."), (" !", "!"),
                           (" ?", "?")):
        text = text.replace(spaced, joined)
    return text[:1].upper() + text[1:]


def empathetic_dialogues(root: Path, out: Path) -> Iterator[dict]:
    mapping = _label_map(root, "empathetic_dialogues_approx")
    with (root / "empathetic_dialogues" / "response_valid.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            context = row["context"]
            if not context or context[-1]["role"] != "speaker":
                continue
            yield {"id": f"ed/{row['id']}", "text": _detokenise(context[-1]["text"]),
                   "context": [_detokenise(turn["text"]) for turn in context[:-1]] or None,
                   "label": mapping.get(row["emotion"]),
                   "reference_reply": _detokenise(row["reference_response"])}


def manifests(root: Path, out: Path, skipped: dict) -> dict[str, tuple[str, Callable[[], Iterator[dict]]]]:
    """file name -> (the data folder it needs, the rows)."""
    return {
        "ravdess_dev.jsonl": ("ravdess_speech_dev", lambda: ravdess(root, out)),
        "meld_dev_text.jsonl": ("meld_text", lambda: meld(root, out)),
        "goemotions_dev.jsonl": ("goemotions", lambda: goemotions(root, out, skipped)),
        "fer2013_publictest.jsonl": ("fer2013_publictest", lambda: fer2013(root, out)),
        "emodb.jsonl": ("emodb_subset", lambda: emodb(root, out, skipped)),
        "cremad.jsonl": ("cremad_verified", lambda: cremad(root, out)),
        "pyaudioanalysis_va.jsonl": ("pyaudioanalysis_speech_arousal_valence", lambda: pyaudioanalysis(root, out)),
        "empathetic_dialogues_valid.jsonl": ("empathetic_dialogues", lambda: empathetic_dialogues(root, out)),
    }


def write_all(out: Path, root: Path | None = None, only: set[str] | None = None) -> dict:
    """Write every manifest whose data is present; returns {file: rows written} plus what was left out and why."""
    root = root or data_dir()
    if not root.is_dir():
        raise ValueError(f"{root}: no data folder (set EMPATHIC_DATA)")
    out.mkdir(parents=True, exist_ok=True)
    skipped: dict[str, int] = {}
    written: dict[str, int] = {}
    absent: list[str] = []
    for name, (folder, rows) in manifests(root, out, skipped).items():
        if only and name.removesuffix(".jsonl") not in only:
            continue
        if not (root / folder).is_dir():
            absent.append(folder)
            continue
        written[name] = write_manifest(out / name, rows())
    return {"data": str(root), "out": str(out), "written": written, "rows_left_out": skipped, "absent": absent}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.make_manifests", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the manifests")
    parser.add_argument("--data", type=Path, default=None,
                        help="data folder (default $EMPATHIC_DATA or ../shared/data)")
    parser.add_argument("--only", default="", help="comma-separated manifest names without .jsonl")
    args = parser.parse_args(argv)
    try:
        summary = write_all(args.out, args.data, {s.strip() for s in args.only.split(",") if s.strip()} or None)
    except (ValueError, OSError) as err:
        print(f"make_manifests: error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
