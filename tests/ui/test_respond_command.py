import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def empathic(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ui.cli", *args], cwd=REPO, input=stdin, capture_output=True,
                          text=True, timeout=300)


def test_respond_without_a_working_backend_still_replies_with_a_status(tmp_path):
    missing = tmp_path / "nope.gguf"
    done = empathic("respond", "My coworker took credit for my project.", "--model", str(missing),
                    "--text-emotion", "lexicon")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["route"] == "fallback" and doc["reply"]
    assert doc["appraisal"]["emotion"] == "anger" and doc["appraisal"]["need"] == "to_be_heard"
    assert doc["appraisal"]["cause"] in "My coworker took credit for my project."
    assert any("unavailable" in s for s in doc["status"])


def test_respond_routes_crisis_language(tmp_path):
    done = empathic("respond", "I want to end my life", "--model", str(tmp_path / "x.gguf"),
                    "--text-emotion", "lexicon")
    doc = json.loads(done.stdout)
    assert doc["route"] == "crisis" and "suicide" in doc["appraisal"]["safety_flags"]
    assert "local emergency number" in doc["reply"]
    assert doc["appraisal"]["safety_level"] == "crisis" and "end my life" in doc["appraisal"]["safety_reason"]


def test_respond_forced_emotion_and_bad_input(tmp_path):
    done = empathic("respond", "the meeting moved", "--emotion", "joy", "--model", str(tmp_path / "x.gguf"),
                    "--text-emotion", "lexicon")
    assert json.loads(done.stdout)["appraisal"]["emotion"] == "joy"
    empty = empathic("respond", "  ")
    assert empty.returncode == 2 and "empty" in empty.stderr and "Traceback" not in empty.stderr
    unknown = empathic("respond", "hi", "--emotion", "bored")
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr


def test_chat_reads_piped_stdin_and_shows_the_appraisal(tmp_path):
    done = empathic("chat", "--model", str(tmp_path / "x.gguf"), "--text-emotion", "lexicon",
                    stdin="I'm so nervous about my exam tomorrow.\n/appraisal\n/quit\nnever read\n")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("agent> ") and len(lines[0]) > 20
    appraisal = json.loads(lines[1])
    assert appraisal["emotion"] == "fear" and appraisal["need"] == "reassurance"
    assert "never read" not in done.stdout


@pytest.mark.slow
def test_respond_with_the_embedded_model():
    done = empathic("respond", "I have a job interview tomorrow and I'm really nervous.")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["backend"] == "llamacpp" and doc["model"] == "SmolLM2-135M-Instruct"
    assert doc["route"] in ("generated", "fallback") and doc["reply"]
    assert set(doc["appraisal"]) >= {"emotion", "intensity", "cause", "need"}


def test_respond_json_says_where_the_cause_was_said(tmp_path):
    done = empathic("respond", "I failed my driving test again this morning.", "--emotion", "sadness",
                    "--model", str(tmp_path / "x.gguf"), "--text-emotion", "lexicon")
    appraisal = json.loads(done.stdout)["appraisal"]
    assert appraisal["cause_turn"] == 0 and appraisal["cause_speaker"] == "user"
    assert appraisal["cause"] and appraisal["cause"] in "I failed my driving test again this morning."
