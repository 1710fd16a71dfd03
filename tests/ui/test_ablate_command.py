"""`empathic ablate` end to end: the report files, bad input as one line, replies per condition, and a few lines of
the real development data where it is present."""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path

import pytest
from PIL import Image

from ui.cli import main

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("EMPATHIC_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture()
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EMPATHIC_ABLATION_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _manifest(folder: Path, rows: list) -> Path:
    path = folder / "manifest.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.mark.slow
def test_ablate_writes_the_report_files_and_names_skipped_lines(tmp_path, samples_dir, isolated_cache, capsys):
    manifest = _manifest(tmp_path, [
        {"id": "a", "audio": str(samples_dir / "speech_anger.wav"), "label": "anger"},
        {"id": "b", "audio": str(samples_dir / "speech_neutral.wav"), "label": "neutral"},
        {"id": "c", "text": "I can't stop crying since she left", "label": "sadness"},
        {"id": "c", "text": "duplicate"},
        {"id": "d", "text": "hello", "label": "bored"},
    ])
    out = tmp_path / "report"
    assert main(["ablate", str(manifest), "--conditions", "text,audio,text+audio", "--out", str(out),
                 "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "line 4: duplicate_id" in captured.err and "line 5: unknown_label" in captured.err
    assert re.search(r"^text\+audio\s+3\s", captured.out, flags=re.M)
    report = json.loads((out / "report.json").read_text())
    assert report["samples"] == 3 and report["labelled"] == 3
    assert report["skipped"]["total"] == 2 and report["skipped"]["by_reason"]["duplicate_id"] == 1
    assert set(report["conditions"]) == {"text", "audio", "text+audio"}
    for metrics in report["conditions"].values():
        assert {"accuracy", "macro_f1", "weighted_f1", "per_class", "confusion_matrix", "ci95"} <= set(metrics)
    assert [(p["a"], p["b"]) for p in report["pairs"]] == [("text", "audio"), ("text", "text+audio"),
                                                           ("audio", "text+audio")]
    assert "--conditions text,audio,text+audio" in report["command"]
    lines = (out / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == 3 * 3 and {json.loads(line)["condition"] for line in lines} == {"text", "audio", "text+audio"}
    for png in ("conditions_macro_f1.png", "confusion_matrices.png"):
        with Image.open(out / png) as image:
            assert image.format == "PNG" and image.width > 200
    page = (out / "report.html").read_text()
    embedded = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    assert len(embedded) == 2 and base64.b64decode(embedded[0])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "McNemar" in page and "text+audio" in page


@pytest.mark.parametrize("argv, message", [
    (["--conditions", "text,smell"], "unknown condition 'smell'"),
    (["--jobs", "0"], "--jobs must be >= 1"),
    (["--limit", "0"], "--limit must be at least 1"),
])
def test_bad_options_are_one_line(tmp_path, argv, message, capsys):
    manifest = _manifest(tmp_path, [{"id": "a", "text": "hi", "label": "joy"}])
    assert main(["ablate", str(manifest), "--out", str(tmp_path / "o"), "--quiet", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("empathic ablate: error:") and message in err and len(err.splitlines()) == 1


def test_a_missing_manifest_is_one_line(tmp_path, capsys):
    assert main(["ablate", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "no such manifest file" in capsys.readouterr().err


def test_an_all_bad_manifest_gives_a_valid_empty_report(tmp_path, isolated_cache):
    manifest = _manifest(tmp_path, ["garbage", {"id": "x", "label": "joy"}])
    assert main(["ablate", str(manifest), "--out", str(tmp_path / "o"), "--quiet", "--conditions", "text"]) == 0
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["samples"] == 0 and report["skipped"]["total"] == 2 and report["pairs"] == []
    assert (tmp_path / "o" / "report.html").exists()


@pytest.mark.slow
def test_responses_are_generated_and_measured_per_condition(tmp_path, isolated_cache):
    manifest = _manifest(tmp_path, [
        {"id": "a", "text": "I finally passed my driving test!", "label": "joy",
         "reference_reply": "Congratulations! How does it feel to be able to drive on your own?"},
        {"id": "b", "text": "My dog died this morning.", "label": "sadness", "context": ["How are you?", "Not great."],
         "reference_reply": "I'm so sorry. Losing a dog is like losing family."},
    ])
    out = tmp_path / "o"
    assert main(["ablate", str(manifest), "--out", str(out), "--quiet", "--conditions", "text,face",
                 "--responses"]) == 0
    responses = json.loads((out / "report.json").read_text())["responses"]
    for condition in ("text", "face"):
        row = responses["conditions"][condition]
        assert row["n"] == 2 and row["reference_n"] == 2
        assert 0 <= row["check_pass_rate"] <= 1 and math_close(row["check_pass_rate"] + row["fallback_rate"], 1.0)
        assert 0 < row["distinct_1"] <= 1 and 0 < row["distinct_2"] <= 1 and row["mean_words"] > 3
        assert -1 <= row["reference_similarity"] <= 1
    # text and face disagree (face has no image here: neutral), so both appraisals were generated for
    assert responses["generated"] >= 3
    assert "Replies" in (out / "report.html").read_text()
    replies = [json.loads(line) for line in (out / "replies.jsonl").read_text().splitlines()]
    assert len(replies) == 4 and {r["condition"] for r in replies} == {"text", "face"}
    assert all(r["reply"].strip() and r["route"] in ("generated", "fallback") for r in replies)


def math_close(a: float, b: float) -> bool:
    return abs(a - b) < 1e-6


@pytest.mark.slow
@pytest.mark.skipif(not (DATA / "ravdess_speech_dev").is_dir(), reason=f"RAVDESS dev data absent under {DATA}")
def test_a_few_real_ravdess_clips(tmp_path, isolated_cache):
    from evaluation.make_manifests import write_all

    write_all(tmp_path / "manifests", DATA, only={"ravdess_dev"})
    manifest = tmp_path / "manifests" / "ravdess_dev.jsonl"
    out = tmp_path / "o"
    assert main(["ablate", str(manifest), "--out", str(out), "--quiet", "--conditions", "text,audio",
                 "--limit", "4", "--seed", "1"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["samples"] == 4 and report["text_sources"] == {"asr": 4}
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    # the RAVDESS sentences: "Kids are talking by the door" / "Dogs are sitting by the door"
    assert all("door" in (r["text"] or "").lower() for r in rows)
    assert "--limit 4" in report["command"] and "--seed 1" in report["command"]


@pytest.mark.slow
def test_the_ablation_tab_runs_a_manifest_through_the_app(tmp_path, samples_dir, isolated_cache):
    import gradio as gr
    from gradio_client import Client

    from ui.ablation_tab import build_ablation_tab

    folder = tmp_path / "manifests"
    folder.mkdir()
    _manifest(folder, [{"id": "a", "text": "This is the best day of my life!", "label": "joy"},
                       {"id": "b", "image": str(samples_dir / "face_joy.png"), "label": "joy"},
                       {"id": "b", "text": "dup"}])
    with gr.Blocks() as app:
        parts = build_ablation_tab([folder], out_root=tmp_path)
    assert parts["manifest"].choices[0][1] == str(folder / "manifest.jsonl")
    app.queue()
    app.launch(prevent_thread_lock=True, quiet=True, server_name="127.0.0.1")
    try:
        client = Client(app.local_url, verbose=False)
        summary, bars, confusions, html_path, report = client.predict(
            str(folder / "manifest.jsonl"), None, ["text", "face"], 10, 0, api_name="/ablation_run")
    finally:
        app.close()
    assert "| text | 2 |" in summary and "1 lines skipped" in summary and "line 3: duplicate_id" in summary
    assert report["conditions"]["face"]["n"] == 2 and Path(bars).exists() and Path(confusions).exists()
    assert "data:image/png;base64," in Path(html_path).read_text()


@pytest.mark.slow
def test_the_ablation_tab_runs_the_bundled_samples_in_one_click_and_says_an_error_in_one_line(tmp_path,
                                                                                             isolated_cache):
    import gradio as gr
    from gradio_client import Client

    from ui.ablation_tab import build_ablation_tab

    with gr.Blocks() as app:
        build_ablation_tab([], out_root=tmp_path)
    app.queue()
    app.launch(prevent_thread_lock=True, quiet=True, server_name="127.0.0.1")
    try:
        client = Client(app.local_url, verbose=False)
        summary, bars, confusions, html_path, report = client.predict(api_name="/ablation_sample")
        failed = client.predict(None, None, ["text"], 10, 0, api_name="/ablation_run")
    finally:
        app.close()
    assert "bundled_samples.jsonl" in summary and "| text+audio | 6 |" in summary and "| face | 6 |" in summary
    assert report["labelled"] == 6 and Path(bars).exists() and Path(confusions).exists()
    assert failed[0] == "**Could not run the ablation:** choose or upload a manifest first"
    assert all(value is None for value in failed[1:])
