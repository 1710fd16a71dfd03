"""Fuzzing the byte loaders (audio, image, video), the microphone/frame array paths, and, where they exist, the
manifest and recorded-session parsers: any input ends in a valid result or the loader's typed, one-line error,
never another exception, a traceback or a hang.

Inputs are random bytes and real files mutated by hypothesis (bytes flipped, cut, spliced, repeated), so the
decoders get past the magic bytes and into the containers. As a test it runs a few hundred inputs; for the long run
that reports how many inputs were tried:

    .venv/bin/python tests/perception/test_fuzz_loaders.py --examples 2000     # prints JSON counts per target
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
import time
from collections import Counter
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from basics.errors import MediaError
from perception.audio import audio_from_array, load_audio, load_audio_bytes
from perception.images import load_image, to_rgb
from perception.video import sample_frames

TEST_EXAMPLES = {"audio_bytes": 80, "audio_file": 30, "audio_array": 60, "image": 80, "frame": 60, "video": 30,
                 "manifest": 60, "session": 30}
TRIED: Counter = Counter()  # inputs tried per target
TYPED: Counter = Counter()  # of those, how many ended in the typed error (the rest gave a valid result)
MAX_DURATION_S = 5.0


# --- seeds: small real files to mutate --------------------------------------------------------------------------

def _wav_bytes() -> bytes:
    import soundfile

    t = np.arange(4000) / 16000
    buffer = io.BytesIO()
    soundfile.write(buffer, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000, format="WAV",
                    subtype="PCM_16")
    return buffer.getvalue()


def _flac_bytes() -> bytes:
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, np.random.default_rng(0).normal(0, 0.1, 4000).astype(np.float32), 16000, format="FLAC")
    return buffer.getvalue()


def _image_bytes(kind: str) -> bytes:
    from PIL import Image

    rgb = (np.indices((24, 32)).sum(axis=0)[..., None] * [3, 5, 7] % 256).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format=kind)
    return buffer.getvalue()


def _video_bytes() -> bytes:
    import av

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=5)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        stream.time_base = Fraction(1, 5)
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), i * 40, dtype=np.uint8), format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


SEEDS: dict[str, list[bytes]] = {}


def seeds(kind: str) -> list[bytes]:
    if not SEEDS:
        SEEDS["audio"] = [_wav_bytes(), _flac_bytes()]
        SEEDS["image"] = [_image_bytes("PNG"), _image_bytes("JPEG"), _image_bytes("GIF"), _image_bytes("BMP")]
        SEEDS["video"] = [_video_bytes()]
    return SEEDS[kind]


@st.composite
def mutated(draw, kind: str) -> bytes:
    """A real file of `kind` with a few random edits, or now and then plain random bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=2048))
    data = bytearray(draw(st.sampled_from(seeds(kind))))
    for _ in range(draw(st.integers(1, 4))):
        edit = draw(st.sampled_from(("flip", "cut", "splice", "repeat", "zero")))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if edit == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif edit == "cut":
            del data[at:]
        elif edit == "splice":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif edit == "repeat":
            data[at:at] = data[at:at + draw(st.integers(1, 256))] * draw(st.integers(1, 8))
        elif edit == "zero":
            data[at:at + draw(st.integers(1, 64))] = bytes(len(data[at:at + 64]))[:len(data[at:at + 64])]
    return bytes(data)


def attempt(target: str, run, *typed: type[BaseException]):
    """Run one input: the result, or None after a typed error; anything else fails (hypothesis shrinks it)."""
    TRIED[target] += 1
    try:
        return run()
    except typed as err:
        message = str(err)
        assert message.strip() and "\n" not in message.strip(), f"not one line: {message!r}"
        assert "Traceback" not in message
        TYPED[target] += 1
        return None


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


# --- the targets -------------------------------------------------------------------------------------------------

def fuzz_audio_bytes(data: bytes) -> None:
    audio = attempt("audio_bytes", lambda: load_audio_bytes(data, label="upload.wav", max_duration_s=MAX_DURATION_S),
                    MediaError)
    if audio is not None:
        assert audio.dtype == np.float32 and audio.ndim == 1 and np.isfinite(audio).all()
        assert len(audio) <= MAX_DURATION_S * 16000 + 16000


def fuzz_audio_file(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = write(Path(folder), "upload.wav", data)
        audio = attempt("audio_file", lambda: load_audio(path, max_duration_s=MAX_DURATION_S), MediaError)
        if audio is not None:
            assert audio.ndim == 1 and np.isfinite(audio).all()
        else:
            assert TYPED["audio_file"]


def fuzz_audio_array(array: np.ndarray, sample_rate_hz: int) -> None:
    audio = attempt("audio_array", lambda: audio_from_array(array, sample_rate_hz, 16000, label="microphone chunk"),
                    MediaError)
    if audio is not None:
        assert audio.ndim == 1 and audio.dtype == np.float32 and np.isfinite(audio).all()


def fuzz_image(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = write(Path(folder), "photo.png", data)
        rgb = attempt("image", lambda: load_image(path), MediaError)
        if rgb is not None:
            assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3


def fuzz_frame(array: np.ndarray) -> None:
    rgb = attempt("frame", lambda: to_rgb(array), MediaError)
    if rgb is not None:
        assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3


def fuzz_video(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = write(Path(folder), "clip.mp4", data)
        frames = attempt("video", lambda: list(sample_frames(path, fps=5.0)), MediaError)
        for t_s, rgb in frames or ():
            assert np.isfinite(t_s) and rgb.dtype == np.uint8 and rgb.shape[2] == 3


def fuzz_manifest(lines: list[str]) -> None:
    from evaluation.manifest import ManifestProblem, Sample, iter_manifest

    with tempfile.TemporaryDirectory() as folder:
        path = write(Path(folder), "manifest.jsonl", "\n".join(lines).encode("utf-8", errors="surrogatepass")
                     if all(_encodable(x) for x in lines) else b"\xff\xfe" + b"bad")
        entries = attempt("manifest", lambda: list(iter_manifest(path)), ValueError)
        for entry in entries or ():
            assert isinstance(entry, (Sample, ManifestProblem))
            if isinstance(entry, ManifestProblem):
                assert entry.line >= 1 and "\n" not in entry.message


def fuzz_session(meta: bytes, events: bytes, audio: bytes) -> None:
    from ui.replay import open_source
    from ui.timeline_file import load_events

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder) / "20260101-000000-abcdef"
        folder.mkdir()
        write(folder, "meta.json", meta)
        write(folder, "events.jsonl", events)
        write(folder, "audio.wav", audio)
        found, problems = load_events(folder / "events.jsonl")
        assert all(isinstance(e, dict) and "kind" in e and "t_s" in e for e in found)
        assert all("\n" not in p for p in problems)
        source = attempt("session", lambda: open_source(folder), MediaError)
        if source is not None:
            assert source.audio_path or source.video_path or source.typed_turns


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


# --- strategies --------------------------------------------------------------------------------------------------

ARRAYS = st.one_of(
    st.builds(lambda n, k, dtype, fill: np.full((n, k) if k else (n,), fill).astype(dtype),
              st.integers(0, 2000), st.integers(0, 3), st.sampled_from(["int16", "int32", "float32", "float64",
                                                                         "uint8", "bool", "complex64"]),
              st.sampled_from([0, 1, -1, 32767, 1e9, np.nan, np.inf])),
    st.builds(lambda shape: np.zeros(shape, dtype=np.float32), st.lists(st.integers(0, 4), max_size=4).map(tuple)),
    st.just(np.array(["a", "b"])), st.just(np.array([[1, 2], [3, 4]], dtype=object)),
)
FRAMES = st.one_of(
    st.builds(lambda shape, dtype, fill: np.full(shape, fill).astype(dtype),
              st.lists(st.integers(0, 6), min_size=0, max_size=4).map(tuple),
              st.sampled_from(["uint8", "uint16", "float32", "float64", "int64", "bool"]),
              st.sampled_from([0, 1, 255, 65535, -3, 0.5, np.nan, np.inf])),
    st.just(np.array("not an image")),
)
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=4), max_leaves=8)
MANIFEST_ROW = st.fixed_dictionaries({}, optional={
    "id": JSON_VALUES | st.text(min_size=1, max_size=8), "text": JSON_VALUES, "audio": JSON_VALUES | st.just("a.wav"),
    "video": JSON_VALUES, "image": JSON_VALUES | st.just("../../etc/passwd"), "label": JSON_VALUES | st.just("joy"),
    "valence": JSON_VALUES, "arousal": JSON_VALUES, "context": JSON_VALUES, "reference_reply": JSON_VALUES,
})
MANIFEST_LINES = st.lists(st.one_of(MANIFEST_ROW.map(lambda r: json.dumps(r, allow_nan=True)), st.text(max_size=40)),
                          max_size=6)
EVENT = st.fixed_dictionaries({}, optional={"kind": JSON_VALUES | st.sampled_from(["text", "reply", "state"]),
                                            "t_s": JSON_VALUES, "text": JSON_VALUES,
                                            "source": JSON_VALUES | st.just("text")})
EVENTS = st.lists(st.one_of(EVENT.map(lambda e: json.dumps(e, allow_nan=True).encode()), st.binary(max_size=40)),
                  max_size=6).map(lambda lines: b"\n".join(lines))
META = st.one_of(st.dictionaries(st.sampled_from(["t0_s", "created_utc", "duration_s", "x"]), JSON_VALUES,
                                 max_size=4).map(lambda m: json.dumps(m, allow_nan=True).encode()),
                 st.binary(max_size=64))


def targets(examples: dict[str, int], derandomize: bool = False) -> dict[str, object]:
    """Each target as a hypothesis test with its own number of examples (derandomized: the same inputs each run,
    as a test should be; the long run draws new ones every time)."""
    def make(name, strategy_args, body):
        return settings(max_examples=examples[name], deadline=None, database=None, derandomize=derandomize,
                        suppress_health_check=list(HealthCheck))(given(*strategy_args)(body))

    found = {
        "audio_bytes": make("audio_bytes", [mutated("audio")], fuzz_audio_bytes),
        "audio_file": make("audio_file", [mutated("audio")], fuzz_audio_file),
        "audio_array": make("audio_array", [ARRAYS, st.integers(-5, 200000)], fuzz_audio_array),
        "image": make("image", [mutated("image")], fuzz_image),
        "frame": make("frame", [FRAMES], fuzz_frame),
        "video": make("video", [mutated("video")], fuzz_video),
    }
    found["manifest"] = make("manifest", [MANIFEST_LINES], fuzz_manifest)
    found["session"] = make("session", [META, EVENTS, mutated("audio")], fuzz_session)
    return found


# --- as tests ----------------------------------------------------------------------------------------------------

TESTS = targets(TEST_EXAMPLES, derandomize=True)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy on the fuzzed arrays (empty means, NaN casts)
@pytest.mark.parametrize("name", sorted(TEST_EXAMPLES))
def test_fuzzed_input_gives_a_result_or_the_typed_error(name):
    before = TRIED[name]
    TESTS[name]()
    tried = TRIED[name] - before
    print(f"{name}: {tried} inputs tried, {TYPED[name]} typed errors")
    assert tried >= TEST_EXAMPLES[name] // 2  # it really ran (hypothesis may stop early on a small space)


def test_the_seeds_are_valid_files():
    """The mutations start from real, readable files (else the fuzzing would only ever test the error path)."""
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for data in seeds("audio"):
            assert len(load_audio_bytes(data)) > 1000
        for data in seeds("image"):
            assert load_image(write(folder, "x.img", data)).shape == (24, 32, 3)
        assert len(list(sample_frames(write(folder, "x.mp4", seeds("video")[0])))) >= 3


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="the long fuzzing run: inputs tried per target, as JSON")
    parser.add_argument("--examples", type=int, default=1000, help="inputs per target")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    failures = {}
    for name, test in targets({name: args.examples for name in TEST_EXAMPLES}).items():
        try:
            test()
        except Exception as err:  # report every target, then fail
            failures[name] = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    print(json.dumps({"inputs_tried": dict(TRIED), "typed_errors": dict(TYPED),
                      "inputs_tried_total": sum(TRIED.values()), "failures": failures,
                      "wall_s": round(time.perf_counter() - started, 1)}, indent=1))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    raise SystemExit(main(sys.argv[1:]))
