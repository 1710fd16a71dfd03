"""Two reply configurations on the same contexts, for blind pairwise rating: `empathic evaluate`.

    a, b = parse_config("coe=cbt", "--a"), parse_config("human", "--b")
    run_pairwise("contexts.jsonl", a, b, Path("/tmp/eval"), limit=30)   # DIR/run.json, DIR/replies.jsonl

A CONFIG is `key=value` pairs joined by commas; every key left out keeps the embedded default (SmolLM2-135M through
llama.cpp, no Chain-of-Empathy variant, the reply check on). `human` takes the manifest's `reference_reply`.
The contexts are manifest rows (evaluation/manifest.py) with `text`; `context` holds the earlier turns, the last of
them the listener's. replies.jsonl is written a row at a time (both sides of one context per line), so a run that
is stopped keeps what it finished.

`automatic_measures(rows)` is the one place the automatic reply measures are computed (today: what
evaluation/evaluate_responses.py offers); a better evaluator goes in there and nowhere else.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evaluation.manifest import MALFORMED, Entry, ManifestProblem, ProblemLog, Sample, iter_manifest, select_samples

if TYPE_CHECKING:  # the responder pulls in models; imported where replies are written
    from agent.responder import Responder

RUN_FORMAT = "empathic-pairwise-run/1"
RUN_JSON = "run.json"
REPLIES_JSONL = "replies.jsonl"
SIDES: tuple[str, str] = ("a", "b")
HUMAN = "human"
BACKEND_KINDS: tuple[str, ...] = ("llamacpp", "transformers", "openai", "none")  # none: the template replies
TEXT_EMOTION_KINDS: tuple[str, ...] = ("auto", "model", "lexicon")
CRITIC_VALUES: dict[str, bool] = {"on": True, "off": False, "true": True, "false": False, "yes": True, "no": False,
                                  "1": True, "0": False}
DEFAULT_ED_LIMIT = 30  # contexts drawn from ED valid when no manifest is given: a study of minutes, not hours


@dataclass(frozen=True)
class ReplyConfig:
    """One side of the comparison. backend `none`: no LLM, the responder's template replies (the floor). `critic`
    on: the responder as shipped (check, one retry, template fallback); off: the model's first attempt as it came
    (tidied to whole sentences), unchecked. `human`: the manifest's reference reply."""

    backend: str = "llamacpp"
    model: str | None = None
    url: str | None = None
    coe: str | None = None
    critic: bool = True
    text_emotion: str = "auto"
    human: bool = False

    @property
    def label(self) -> str:
        """Short and unique: the keys that differ from the default, or `default`, or `human`."""
        if self.human:
            return HUMAN
        default = ReplyConfig()
        changed = [f"{f.name}={_show(getattr(self, f.name))}" for f in fields(self)
                   if f.name != "human" and getattr(self, f.name) != getattr(default, f.name)]
        return ",".join(changed) or "default"

    def backend_key(self) -> tuple[str, str | None, str | None]:
        return self.backend, self.model, self.url


CONFIG_KEYS: tuple[str, ...] = tuple(f.name for f in fields(ReplyConfig) if f.name != "human")


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def parse_config(text: str | None, flag: str = "--a") -> ReplyConfig:
    """`key=value,key=value` (or `human`, or empty for the default) as a ReplyConfig; ValueError in one line
    naming the flag, the key and what it may be."""
    text = (text or "").strip()
    if text.lower() == HUMAN:
        return ReplyConfig(human=True)
    values: dict[str, Any] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        key, value = key.strip().lower().replace("-", "_"), value.strip()
        if not sep:
            raise ValueError(f"{flag}: {part!r} is not key=value (keys: {', '.join(CONFIG_KEYS)}; or 'human')")
        if key not in CONFIG_KEYS:
            raise ValueError(f"{flag}: unknown key {key!r}; the keys are {', '.join(CONFIG_KEYS)} (or 'human')")
        if key in values:
            raise ValueError(f"{flag}: key {key!r} given twice")
        if not value:
            raise ValueError(f"{flag}: {key} has no value")
        values[key] = _config_value(flag, key, value)
    return ReplyConfig(**values)


def _config_value(flag: str, key: str, value: str) -> object:
    if key == "backend":
        if value not in BACKEND_KINDS:
            raise ValueError(f"{flag}: backend {value!r} is not one of {', '.join(BACKEND_KINDS)}")
        return value
    if key == "coe":
        from agent.prompts import normalise_coe

        try:
            return normalise_coe(value)
        except ValueError as err:
            raise ValueError(f"{flag}: {err}") from None
    if key == "critic":
        if value.lower() not in CRITIC_VALUES:
            raise ValueError(f"{flag}: critic {value!r} is not on or off")
        return CRITIC_VALUES[value.lower()]
    if key == "text_emotion":
        if value not in TEXT_EMOTION_KINDS:
            raise ValueError(f"{flag}: text_emotion {value!r} is not one of {', '.join(TEXT_EMOTION_KINDS)}")
        return value
    return value  # model, url: a path, a name or an address, checked when the backend starts


@dataclass(frozen=True)
class Context:
    """What both sides answer: the person's last turn, the conversation before it, and the human reply if known."""

    id: str
    text: str
    context: tuple[str, ...]
    reference_reply: str | None
    label: str | None

    @property
    def history(self) -> list[tuple[str, str]]:
        """Earlier turns as (role, text); turns alternate back from the person's own, so the last is the agent's."""
        turns = list(self.context)
        return [("assistant" if (len(turns) - i) % 2 == 1 else "user", turn) for i, turn in enumerate(turns)]


def _with_text_only(entries: Iterable[Entry], need_reference: bool) -> Iterator[Entry]:
    """Rows that cannot be answered here become problems before the seeded choice, so --limit counts usable rows."""
    for entry in entries:
        if isinstance(entry, Sample) and entry.text is None:
            yield ManifestProblem(entry.line, MALFORMED, "no text to reply to (evaluate answers typed words)",
                                  entry.id)
        elif isinstance(entry, Sample) and need_reference and not (entry.reference_reply or "").strip():
            yield ManifestProblem(entry.line, MALFORMED, "no reference_reply (needed for the human side)", entry.id)
        else:
            yield entry


def read_contexts(manifest: str | os.PathLike, limit: int | None = None, seed: int = 0,
                  need_reference: bool = False) -> tuple[list[Context], ProblemLog]:
    """The contexts to answer (a seeded choice of `limit`, in file order) and the lines skipped. ValueError (one
    line naming the manifest) when nothing usable is left."""
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be at least 1, got {limit}")
    problems = ProblemLog(keep=20)
    chosen = list(select_samples(_with_text_only(iter_manifest(manifest), need_reference), problems, limit, seed))
    if not chosen:
        first = f": {problems.examples[0]}" if problems.examples else ""
        raise ValueError(f"{manifest}: no usable context ({problems.tally().total} lines skipped{first})")
    return [Context(s.id, s.text or "", s.context, s.reference_reply, s.label) for s in chosen], problems


def default_rating_manifest() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "empathic" / "manifests" / "empathetic_dialogues_valid.jsonl"


def ensure_rating_manifest(path: Path | None = None) -> Path:
    """A rating manifest from EmpatheticDialogues valid (development data: the last speaker turn, the turns before
    it, the listener's reply as reference_reply), written once from $EMPATHIC_DATA if it is not there yet."""
    from evaluation.make_manifests import data_dir, empathetic_dialogues
    from evaluation.manifest import write_manifest

    path = Path(path) if path is not None else default_rating_manifest()
    if path.is_file():
        return path
    root = data_dir()
    if not (root / "empathetic_dialogues" / "response_valid.jsonl").is_file():
        raise ValueError(f"{root}: no empathetic_dialogues/response_valid.jsonl to build the rating manifest from "
                         "(set EMPATHIC_DATA, or give a MANIFEST)")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    write_manifest(partial, empathetic_dialogues(root, path.parent))
    partial.replace(path)  # never a half-written manifest under the real name
    return path


# --- generation ---------------------------------------------------------------------------------------------------

class SideWriter:
    """Writes one side's reply to a context: the responder under a ReplyConfig, or the human reference."""

    def __init__(self, config: ReplyConfig, responder: Responder | None = None) -> None:
        self.config = config
        self.responder = responder

    def __call__(self, context: Context) -> dict:
        if self.config.human:
            return {"config": HUMAN, "reply": context.reference_reply, "route": HUMAN, "latency_s": None,
                    "first_token_s": None, "backend": HUMAN, "model": None, "emotion": None, "need": None,
                    "cause": None, "status": []}
        assert self.responder is not None, "a generating side has a responder (build_writers gives it one)"
        started = time.perf_counter()
        first_attempt: list[str] = []
        restarts: list[float] = []
        reply = self.responder.respond(
            context.text, history=context.history,
            on_token=lambda piece: None if restarts else first_attempt.append(piece),
            on_restart=lambda: restarts.append(time.perf_counter() - started))
        text, route, latency_s = reply.text, reply.route, reply.latency_s
        if not self.config.critic and restarts and reply.route != "crisis":
            # critic off: the first attempt stands, checked or not (the crisis route is safety, not the critic)
            from agent.responder import tidy_reply

            unchecked = tidy_reply("".join(first_attempt))
            if unchecked:
                text, route, latency_s = unchecked, "unchecked", restarts[0]
        return {"config": self.config.label, "reply": text, "route": route, "latency_s": round(latency_s, 3),
                "first_token_s": None if reply.first_token_s is None else round(reply.first_token_s, 3),
                "backend": reply.backend, "model": reply.model, "emotion": reply.appraisal.emotion,
                "need": reply.appraisal.need, "cause": reply.appraisal.cause, "status": list(reply.status)}


def build_writers(configs: Sequence[ReplyConfig]) -> tuple[list[SideWriter], list[str]]:
    """One SideWriter per config; backends, text-emotion readers and the exemplar retriever are shared between
    sides that can share them (the embedded model loads once). A backend that cannot start is an error here: a
    comparison of two template replies would look like a result."""
    from agent.appraisal import load_text_emotion
    from agent.backends import LLMError, make_backend
    from agent.exemplars import ExemplarRetriever
    from agent.responder import Responder

    backends: dict[tuple | None, Any] = {None: None}
    readers: dict[str, Any] = {}
    notes: list[str] = []
    writers = []
    generating = [c for c in configs if not c.human and c.backend != "none"]
    # the exemplar retriever (MiniLM embeddings of the bank) is built once and shared; template sides need none
    retriever = ExemplarRetriever() if generating else None
    for flag, config in zip(("--a", "--b"), configs):
        if config.human:
            writers.append(SideWriter(config))
            continue
        key = None if config.backend == "none" else config.backend_key()
        if key not in backends:
            try:
                backends[key] = make_backend(config.backend, model=config.model, url=config.url)
            except LLMError as err:
                raise ValueError(f"{flag}: LLM backend {config.backend} cannot start ({err})") from None
        if config.text_emotion not in readers:
            readers[config.text_emotion], note = load_text_emotion(config.text_emotion)
            notes.append(f"{config.label}: {note}")
        responder = Responder(backends[key], coe=config.coe, text_emotion=readers[config.text_emotion],
                              retriever=retriever)
        writers.append(SideWriter(config, responder))
    return writers, notes


@dataclass(frozen=True)
class PairwiseRun:
    out: Path
    contexts: int
    skipped: int
    wall_s: float


def run_pairwise(manifest: str | os.PathLike, a: ReplyConfig, b: ReplyConfig, out: str | os.PathLike,
                 limit: int | None = None, seed: int = 0, command: str = "",
                 progress: Callable[[str], None] | None = None) -> PairwiseRun:
    """Both sides' replies to the same contexts: DIR/replies.jsonl (a line per context, written as it is done) and
    DIR/run.json (the configurations, the data, the machine). Refuses a folder that already holds a run, whose
    ratings would then point at other replies."""
    if a == b:
        raise ValueError(f"--a and --b are the same configuration ({a.label}): nothing to compare")
    out_dir = Path(out)
    if (out_dir / REPLIES_JSONL).exists():
        raise ValueError(f"{out_dir}: already holds a run ({REPLIES_JSONL}); choose another --out")
    contexts, problems = read_contexts(manifest, limit, seed, need_reference=a.human or b.human)
    writers, notes = build_writers((a, b))
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": RUN_FORMAT,
        "command": command,
        "manifest": str(Path(manifest).resolve()),
        "a": {"label": a.label, "config": _config_dict(a)},
        "b": {"label": b.label, "config": _config_dict(b)},
        "limit": limit,
        "seed": seed,
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "notes": notes,
        "skipped": {"total": problems.tally().total, "examples": list(problems.examples)},
        "contexts": len(contexts),
        "complete": False,
    }
    _write_json(out_dir / RUN_JSON, meta)
    started = time.perf_counter()
    with (out_dir / REPLIES_JSONL).open("w", encoding="utf-8") as handle:
        for number, context in enumerate(contexts, start=1):
            sides = {side: writer(context) for side, writer in zip(SIDES, writers)}
            row = {"id": context.id, "text": context.text, "context": list(context.context),
                   "reference_reply": context.reference_reply, "label": context.label, **sides}
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            handle.flush()
            if progress:
                progress(f"[{number}/{len(contexts)}] " + "  ".join(
                    f"{side}: {sides[side]['route']} {sides[side]['latency_s'] or 0:.1f}s" for side in SIDES))
    wall_s = round(time.perf_counter() - started, 1)
    _write_json(out_dir / RUN_JSON, {**meta, "complete": True, "wall_s": wall_s})
    return PairwiseRun(out_dir, len(contexts), problems.tally().total, wall_s)


def _config_dict(config: ReplyConfig) -> dict:
    return {"human": True} if config.human else {k: v for k, v in asdict(config).items() if k != "human"}


def _write_json(path: Path, data: dict) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    partial.replace(path)


# --- reading a run back -------------------------------------------------------------------------------------------

def read_jsonl(path: Path) -> tuple[list[dict], list[str]]:
    """The JSON objects of a JSON Lines file and a warning line for each line that is not one. A last line without
    its newline that does not parse is a write that was cut off (a crash, a full disk): skipped, and nothing before
    it is lost. ValueError only when the file cannot be read at all."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ValueError(f"{path}: cannot read ({err.strerror or err})") from None
    rows: list[dict] = []
    warnings: list[str] = []
    lines = data.split(b"\n")
    torn_last = not data.endswith(b"\n")
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            if torn_last and number == len(lines):
                warnings.append(f"{path}: line {number} is cut off (an interrupted write): skipped")
            else:
                reason = err.msg if isinstance(err, json.JSONDecodeError) else "not UTF-8"
                warnings.append(f"{path}: line {number} is not valid JSON ({reason}): skipped")
            continue
        if not isinstance(row, dict):
            warnings.append(f"{path}: line {number} is not a JSON object: skipped")
            continue
        rows.append(row)
    return rows, warnings


@dataclass(frozen=True)
class RunData:
    folder: Path
    meta: dict
    rows: list[dict]  # replies.jsonl, file order
    warnings: list[str]

    def label(self, side: str) -> str:
        return self.meta.get(side, {}).get("label", side.upper())


def read_run(folder: str | os.PathLike) -> RunData:
    """A run folder written by run_pairwise; ValueError in one line when it is not one."""
    path = Path(folder)
    if not path.is_dir():
        raise ValueError(f"{path}: no such run folder")
    if not (path / REPLIES_JSONL).is_file() or not (path / RUN_JSON).is_file():
        raise ValueError(f"{path}: not an evaluate run folder (no {RUN_JSON} and {REPLIES_JSONL}; "
                         "make one with `empathic evaluate MANIFEST --out DIR`)")
    try:
        meta = json.loads((path / RUN_JSON).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path / RUN_JSON}: not readable as JSON ({err})") from None
    if not isinstance(meta, dict) or meta.get("format") != RUN_FORMAT:
        raise ValueError(f"{path / RUN_JSON}: not a {RUN_FORMAT} file")
    rows, warnings = read_jsonl(path / REPLIES_JSONL)
    good = []
    for row in rows:
        if isinstance(row.get("id"), str) and all(isinstance(row.get(s), dict) and isinstance(row[s].get("reply"), str)
                                                  for s in SIDES):
            good.append(row)
        else:
            warnings.append(f"{path / REPLIES_JSONL}: a row without id and both replies: skipped")
    if not good:
        raise ValueError(f"{path / REPLIES_JSONL}: no complete reply pair")
    return RunData(path, meta, good, warnings)


# --- the automatic measures ---------------------------------------------------------------------------------------

def automatic_measures(rows: Sequence[dict]) -> dict[str, dict]:
    """Per side, the automatic measures of its replies in replies.jsonl rows: the reply scorer's EPITOME-style
    mechanisms (evaluation/reply_scores.py: emotional reaction, interpretation, exploration, relevance, off-topic
    questions, invented facts, length in 12-30 words), and beside them valence consistency judged against the
    manifest's label where there is one (else against the emotion the generating side read), open questions, loops,
    distinct-2, length, replies cut off, routes and latency."""
    from agent.contracts import Appraisal
    from evaluation.evaluate_responses import (
        SENTENCE_END,
        asks_open_question,
        distinct_2,
        gold_appraisal,
        has_loop,
        valence_consistent,
    )
    from evaluation.reply_scores import rates, score_reply, similarities

    measures: dict[str, dict] = {}
    for side in SIDES:
        texts = [row[side]["reply"] for row in rows]
        if not texts:
            measures[side] = {"n": 0}
            continue
        consistent = []
        scores = []
        # the person's words: the earlier turns and the last message (what a reply may refer to without inventing)
        saids = [" ".join([*row.get("context", []), row.get("text") or ""]) for row in rows]
        cosines = similarities(texts, saids)
        for number, row in enumerate(rows):
            read = next((row[s] for s in (side, *SIDES) if row[s].get("emotion")), None)
            predicted = Appraisal(emotion=read["emotion"] if read else (row.get("label") or "neutral"),
                                  intensity=0.5, cause=(read or {}).get("cause") or "",
                                  need=(read or {}).get("need") or "to_be_heard")
            gold = gold_appraisal(predicted, row.get("label") or predicted.emotion, None)
            consistent.append(valence_consistent(row[side]["reply"], gold))
            scores.append(score_reply(row[side]["reply"], saids[number], gold, row[side].get("route") or "",
                                      None if cosines is None else cosines[number]))
        scored = {key: value for key, value in rates(scores).items()
                  if key in ("emotional_reaction", "interpretation", "exploration", "relevant",
                             "off_topic_question", "invented", "words_12_to_30")}
        latencies = [row[side]["latency_s"] for row in rows if isinstance(row[side].get("latency_s"), (int, float))]
        routes = Counter(row[side].get("route") for row in rows)
        measures[side] = {
            "n": len(texts),
            **scored,
            "valence_consistency": round(sum(consistent) / len(texts), 3),
            "open_question_share": round(sum(asks_open_question(t) for t in texts) / len(texts), 3),
            "loops": sum(has_loop(t) for t in texts),
            "distinct_2": round(distinct_2(texts), 3),
            "mean_words": round(statistics.mean(len(t.split()) for t in texts), 1),
            "cut_off": sum(not SENTENCE_END.search(t.strip()) for t in texts),
            "routes": {route: round(count / len(texts), 3) for route, count in sorted(routes.items())},
            "latency_s_median": round(statistics.median(latencies), 2) if latencies else None,
        }
    return measures


def print_warnings(warnings: Iterable[str]) -> None:
    for line in warnings:
        print(line, file=sys.stderr)
