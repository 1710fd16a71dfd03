"""`empathic evaluate`: CONFIG parsing, generation of both sides on the same contexts (the real embedded SmolLM2 in
the slow tests), the human side, and bad manifests as one clear line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from rating_helpers import CONTEXTS, make_template_run, write_contexts

from evaluation.pairwise import (
    ReplyConfig,
    automatic_measures,
    ensure_rating_manifest,
    parse_config,
    read_jsonl,
    read_run,
)
from ui.cli import main

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("EMPATHIC_DATA", REPO.parent / "shared" / "data"))


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


def test_a_config_is_key_value_pairs_over_the_embedded_default():
    assert parse_config("") == ReplyConfig() and parse_config("").label == "default"
    config = parse_config("coe=person-centered, critic=off,backend=llamacpp", "--b")
    assert config.coe == "person-centred" and config.critic is False and config.backend == "llamacpp"
    assert config.label == "coe=person-centred,critic=off"
    assert parse_config("model=/m/x.gguf,url=http://127.0.0.1:1/v1,backend=openai").model == "/m/x.gguf"
    assert parse_config("HUMAN").human and parse_config("human").label == "human"


@pytest.mark.parametrize("text, words", [
    ("modle=x", ["--a", "unknown key 'modle'", "backend, model, url, coe, critic"]),
    ("coe=freud", ["--a", "Chain-of-Empathy", "cbt"]),
    ("critic=maybe", ["--a", "critic 'maybe'", "on or off"]),
    ("backend=gpt", ["--a", "backend 'gpt'", "llamacpp"]),
    ("coe", ["--a", "not key=value"]),
    ("coe=cbt,coe=dbt", ["given twice"]),
    ("model=", ["model has no value"]),
])
def test_bad_configs_are_one_clear_line(text, words, tmp_path, capsys):
    with pytest.raises(ValueError) as caught:
        parse_config(text, "--a")
    for word in words:
        assert word in str(caught.value)
    assert main(["evaluate", str(write_contexts(tmp_path)), "--a", text, "--out", str(tmp_path / "o")]) == 2
    assert "empathic evaluate: error: --a" in one_error_line(capsys)
    assert not (tmp_path / "o").exists()  # nothing loaded, nothing written


def test_the_human_side_takes_the_reference_replies_and_keeps_everything_per_context(tmp_path, capsys):
    run = make_template_run(tmp_path)
    rows = [json.loads(line) for line in (run / "replies.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [c["id"] for c in CONTEXTS]
    for row, context in zip(rows, CONTEXTS):
        assert row["text"] == context["text"] and row["reference_reply"] == context["reference_reply"]
        assert row["b"] == {**row["b"], "reply": context["reference_reply"], "route": "human", "config": "human"}
        assert row["a"]["route"] == "fallback" and row["a"]["reply"].strip()  # the template, by the real responder
        assert row["a"]["config"] == "backend=none,text_emotion=lexicon" and row["a"]["latency_s"] >= 0
    meta = json.loads((run / "run.json").read_text())
    assert meta["complete"] and meta["contexts"] == 4 and meta["b"] == {"label": "human", "config": {"human": True}}
    assert meta["a"]["config"]["backend"] == "none" and "--b human" in meta["command"]
    assert rows[1]["context"] == CONTEXTS[1]["context"]
    # the condolence template to the dead dog, the cheer to the baby: the automatic measures see both sides
    measures = automatic_measures(read_run(run).rows)
    assert measures["a"]["routes"] == {"fallback": 1.0} and measures["b"]["routes"] == {"human": 1.0}
    assert measures["b"]["n"] == 4 and 0 <= measures["b"]["valence_consistency"] <= 1
    assert measures["b"]["open_question_share"] == 0.75  # "Can you dispute it?" is a yes/no question, not open
    # the reply scorer's mechanisms stand beside them: every human reply asks on the person's topic, invents nothing,
    # and two of four voice a reaction in words ("Congratulations", "That's so unfair")
    assert measures["b"]["exploration"] == 1.0 and measures["b"]["invented"] == 0.0
    assert measures["b"]["emotional_reaction"] == 0.5 and measures["b"]["off_topic_question"] == 0.0


def test_a_folder_that_holds_a_run_is_never_overwritten(tmp_path, capsys):
    run = make_template_run(tmp_path)
    before = (run / "replies.jsonl").read_bytes()
    capsys.readouterr()
    argv = ["evaluate", str(tmp_path / "contexts.jsonl"), "--a", "backend=none", "--b", "human", "--out", str(run)]
    assert main(argv) == 2
    assert "already holds a run" in one_error_line(capsys)
    assert (run / "replies.jsonl").read_bytes() == before


@pytest.mark.parametrize("rows, expected", [
    (["not json at all", '{"id": "x", "text": "hi", "lable": "joy"}'], "no usable context (2 lines skipped: line 1"),
    ([{"id": "a", "audio": "missing.wav"}], "missing_file"),
    ([{"id": "a", "text": "I lost my keys", "reference_reply": None}], "no reference_reply"),
    ([], "no usable context (0 lines skipped)"),
])
def test_bad_manifests_are_one_clear_line(rows, expected, tmp_path, capsys):
    manifest = tmp_path / "bad.jsonl"
    manifest.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    code = main(["evaluate", str(manifest), "--a", "backend=none", "--b", "human", "--out", str(tmp_path / "o")])
    line = one_error_line(capsys)
    assert code == 2 and str(manifest) in line and expected in line


def test_a_manifest_that_is_missing_or_not_text_is_one_clear_line(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "none.jsonl"), "--b", "human", "--out", str(tmp_path / "o")]) == 2
    assert "no such manifest file" in one_error_line(capsys)
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage\n")
    assert main(["evaluate", str(binary), "--b", "human", "--out", str(tmp_path / "o")]) == 2
    assert "not UTF-8" in one_error_line(capsys)
    assert main(["evaluate", str(binary), "--a", "human", "--b", "human", "--out", str(tmp_path / "o")]) == 2
    assert "nothing to compare" in one_error_line(capsys)


def test_a_run_cut_off_mid_line_keeps_every_finished_context(tmp_path):
    run = make_template_run(tmp_path)
    with (run / "replies.jsonl").open("ab") as handle:
        handle.write(b'{"id": "t/5", "text": "half a li')
    data = read_run(run)
    assert [r["id"] for r in data.rows] == ["t/1", "t/2", "t/3", "t/4"]
    assert data.warnings == [f"{run / 'replies.jsonl'}: line 5 is cut off (an interrupted write): skipped"]


def test_read_jsonl_names_a_bad_middle_line_and_keeps_the_others(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": \n[1, 2]\n\xff\n{"a": 2}\n')
    rows, warnings = read_jsonl(path)
    assert rows == [{"a": 1}, {"a": 2}]
    assert [w.split(": ", 1)[1] for w in warnings] == [
        "line 2 is not valid JSON (Expecting value): skipped", "line 3 is not a JSON object: skipped",
        "line 4 is not valid JSON (not UTF-8): skipped"]


@pytest.mark.skipif(not DATA.is_dir(), reason=f"development data absent at {DATA}")
def test_the_rating_manifest_is_written_once_from_ed_valid_with_reference_replies(tmp_path):
    path = ensure_rating_manifest(tmp_path / "ed.jsonl")
    first = path.read_bytes()
    rows = [json.loads(line) for line in first.decode().splitlines()]
    assert len(rows) == 5734 and all(r["reference_reply"] and r["text"] for r in rows)
    assert sum(bool(r["context"]) for r in rows) > 2500  # about half have earlier turns
    os.utime(path, (0, 0))
    assert ensure_rating_manifest(path) == path and path.stat().st_mtime == 0  # there already: left alone


@pytest.mark.slow
@pytest.mark.skipif(not DATA.is_dir(), reason=f"development data absent at {DATA}")
def test_end_to_end_with_the_embedded_smollm2_on_three_ed_contexts(tmp_path, capsys):
    manifest = ensure_rating_manifest(tmp_path / "ed.jsonl")
    out = tmp_path / "run"
    code = main(["evaluate", str(manifest), "--a", "coe=cbt,critic=off", "--b", "coe=person-centred",
                 "--limit", "3", "--seed", "1", "--out", str(out)])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "3 contexts, A = coe=cbt,critic=off, B = coe=person-centred" in printed.out
    rows = [json.loads(line) for line in (out / "replies.jsonl").read_text().splitlines()]
    assert len(rows) == 3
    for row in rows:
        for side, label in (("a", "coe=cbt,critic=off"), ("b", "coe=person-centred")):
            reply = row[side]
            assert reply["config"] == label and reply["reply"].strip() and reply["latency_s"] > 0
            assert reply["model"] == "SmolLM2-135M-Instruct" and reply["backend"] == "llamacpp"
        assert row["a"]["route"] in ("generated", "unchecked", "crisis", "fallback")
        assert row["b"]["route"] in ("generated", "crisis", "fallback")  # the critic is on: never unchecked
        assert row["reference_reply"]
    meta = json.loads((out / "run.json").read_text())
    assert meta["a"]["config"] == {"backend": "llamacpp", "model": None, "url": None, "coe": "cbt", "critic": False,
                                   "text_emotion": "auto"}
    assert meta["complete"] and meta["limit"] == 3 and meta["seed"] == 1
    # the same seed chooses the same contexts: the human side on them
    again = tmp_path / "human"
    assert main(["evaluate", str(manifest), "--b", "human", "--limit", "3", "--seed", "1", "--out", str(again)]) == 0
    human = [json.loads(line) for line in (again / "replies.jsonl").read_text().splitlines()]
    assert [r["id"] for r in human] == [r["id"] for r in rows]
    assert [r["b"]["reply"] for r in human] == [r["reference_reply"] for r in rows]
    assert [r["a"]["reply"] for r in human] != [r["b"]["reply"] for r in human]
