"""`empathic perceive` end to end on the committed samples, with the real models (what `make demo` ran first)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from basics.labels import LABELS
from ui.cli import main

REPO_DIR = Path(__file__).resolve().parents[2]
SAMPLES = REPO_DIR / "samples"

pytestmark = pytest.mark.slow


def perceive(capsys, *argv: str) -> dict:
    assert main(["perceive", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_speech_file_gives_words_voice_and_their_fused_state(capsys):
    document = perceive(capsys, str(SAMPLES / "speech_sadness.wav"))
    expected = json.loads((SAMPLES / "transcripts.json").read_text())["speech_sadness.wav"]["text"]
    assert document["kind"] == "audio"
    assert document["text"].lower().rstrip(".") == expected.lower().rstrip(".")
    [utterance] = document["utterances"]
    assert utterance["text_emotion"]["probs"]["sadness"] == max(utterance["text_emotion"]["probs"].values())
    assert utterance["prosody"]["features"]["pitch_hz_mean"] > 50
    assert set(utterance["probs"]) == set(LABELS) and abs(sum(utterance["probs"].values()) - 1) < 1e-6
    assert utterance["state"]["valence"] < 0 and utterance["state"]["why"]


def test_image_reports_the_face_flat(capsys):
    document = perceive(capsys, str(SAMPLES / "face_joy.png"))
    assert document["kind"] == "image"
    assert max(document["face"]["probs"], key=document["face"]["probs"].get) == "joy"
    assert "smil" in document["face"]["explanation"]


def test_video_reports_a_face_timeline(capsys):
    document = perceive(capsys, "--fps", "2", str(SAMPLES / "face_video.mp4"))
    assert document["kind"] == "video"
    assert document["face"]["frames_analysed"] >= 2
    assert len(document["face"]["timeline"]) == document["face"]["frames_analysed"]


@pytest.mark.parametrize("content, expected", [(b"", "empty"), (b"not media at all" * 10, "not a readable")])
def test_bad_file_is_one_clear_line(tmp_path, content, expected):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    result = subprocess.run([sys.executable, "-m", "ui.cli", "perceive", str(path)], capture_output=True,
                            text=True, cwd=REPO_DIR, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("empathic perceive: error:") and str(path) in last and expected in last


def test_bad_fps_is_refused(capsys):
    assert main(["perceive", "--fps", "0", str(SAMPLES / "face_joy.png")]) == 2
    assert "--fps must be positive" in capsys.readouterr().err
