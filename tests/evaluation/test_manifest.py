"""The ablation manifest: its exact format, per-line problems with line numbers, streaming and the seeded limit.
No models: these run in well under a second."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluation.manifest import (
    DUPLICATE_ID,
    MALFORMED,
    MISSING_FILE,
    UNKNOWN_LABEL,
    ManifestProblem,
    ProblemLog,
    Sample,
    iter_manifest,
    parse_line,
    select_samples,
    write_manifest,
)

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("EMPATHIC_DATA", REPO.parent / "shared" / "data"))


def _write(folder: Path, lines: list) -> Path:
    path = folder / "manifest.jsonl"
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


def test_valid_lines_resolve_paths_against_the_manifest_folder(tmp_path, samples_dir):
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "a.wav").write_bytes((samples_dir / "speech_joy.wav").read_bytes())
    path = _write(tmp_path, [
        {"id": "a", "text": None, "audio": "media/a.wav", "label": "joy", "valence": 0.5, "arousal": -1,
         "context": ["hi"], "reference_reply": "Great!"},
        # an absolute path, and keys left out
        {"id": "b", "text": "I am so tired of this", "image": str(samples_dir / "face_joy.png")},
    ])
    first, second = list(iter_manifest(path))
    assert first == Sample(id="a", line=1, audio=(tmp_path / "media" / "a.wav").resolve(), label="joy",
                           valence=0.5, arousal=-1.0, context=("hi",), reference_reply="Great!")
    assert second.image == samples_dir / "face_joy.png" and second.label is None and second.audio is None
    assert first.modalities_present == ("audio",) and second.modalities_present == ("text", "image")


def test_each_bad_line_is_named_with_its_number_and_the_rest_goes_on(tmp_path, samples_dir):
    path = _write(tmp_path, [
        {"id": "ok1", "text": "fine"},
        "{not json",
        {"id": "x", "text": "hi", "lable": "joy"},
        {"id": "y", "text": "hi", "label": "happy"},
        {"id": "z", "audio": "missing.wav"},
        {"id": "ok1", "text": "again"},
        "",
        {"id": "v", "text": "hi", "valence": 3},
        {"id": "c", "text": "hi", "context": "not a list"},
        {"id": "n"},
        [1, 2],
        {"id": "ok2", "image": str(samples_dir / "face_joy.png"), "label": "joy"},
    ])
    entries = list(iter_manifest(path))
    problems = {e.line: e for e in entries if isinstance(e, ManifestProblem)}
    assert [e.id for e in entries if isinstance(e, Sample)] == ["ok1", "ok2"]
    assert {line: p.kind for line, p in problems.items()} == {
        2: MALFORMED, 3: MALFORMED, 4: UNKNOWN_LABEL, 5: MISSING_FILE, 6: DUPLICATE_ID, 8: MALFORMED, 9: MALFORMED,
        10: MALFORMED, 11: MALFORMED}
    assert "'lable'" in problems[3].message and "'happy'" in problems[4].message
    assert "missing.wav" in problems[5].message and "line 1" in problems[6].message
    assert str(problems[8]).startswith("line 8: malformed:") and "[-1, 1]" in problems[8].message
    assert "nothing to perceive" in problems[10].message
    log = ProblemLog()
    assert [s.id for s in select_samples(iter_manifest(path), log)] == ["ok1", "ok2"]
    tally = log.tally()
    assert tally.total == 9 and tally.counts == {MALFORMED: 6, UNKNOWN_LABEL: 1, MISSING_FILE: 1, DUPLICATE_ID: 1}
    assert tally.examples[0].startswith("line 2:")


def test_a_manifest_that_cannot_be_read_is_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no such manifest"):
        list(iter_manifest(tmp_path / "absent.jsonl"))
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b'{"id": "a", "text": "x"}\n\xff\xfe\x00garbage\n')
    with pytest.raises(ValueError, match="not UTF-8"):
        list(iter_manifest(binary))


def test_the_limit_is_a_seeded_choice_kept_in_file_order(tmp_path):
    path = _write(tmp_path, [{"id": f"s{i}", "text": f"text {i}"} for i in range(200)])
    chosen = [s.line for s in select_samples(iter_manifest(path), ProblemLog(), limit=20, seed=3)]
    again = [s.line for s in select_samples(iter_manifest(path), ProblemLog(), limit=20, seed=3)]
    other = [s.line for s in select_samples(iter_manifest(path), ProblemLog(), limit=20, seed=4)]
    assert chosen == again and chosen == sorted(chosen) and len(set(chosen)) == 20
    assert other != chosen
    assert len(list(select_samples(iter_manifest(path), ProblemLog(), limit=500))) == 200
    # all 200 lines were seen: the choice spreads over the whole file, not its head
    assert max(chosen) > 100


def test_write_manifest_round_trips_and_refuses_unknown_keys(tmp_path):
    path = tmp_path / "m.jsonl"
    assert write_manifest(path, [{"id": "a", "text": "hello", "label": "joy"}]) == 1
    assert json.loads(path.read_text())["audio"] is None
    [sample] = list(iter_manifest(path))
    assert sample.text == "hello" and sample.label == "joy"
    with pytest.raises(ValueError, match="unknown manifest key"):
        write_manifest(path, [{"id": "a", "txt": "hello"}])


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=80), st.dictionaries(st.sampled_from(
    ["id", "text", "label", "valence", "context", "audio", "extra"]), st.one_of(
    st.none(), st.text(max_size=8), st.floats(allow_nan=True), st.integers(), st.lists(st.text(max_size=3))),
    max_size=6).map(json.dumps)))
def test_any_line_is_a_sample_or_a_named_problem_never_a_crash(tmp_path_factory, line):
    folder = tmp_path_factory.getbasetemp()
    try:
        sample = parse_line(line, 7, folder)
    except Exception as err:  # the only exception allowed is the parser's own, with a kind and a message
        assert type(err).__name__ == "_Bad" and err.kind in (MALFORMED, UNKNOWN_LABEL, MISSING_FILE) and str(err)
    else:
        assert isinstance(sample, Sample) and sample.line == 7 and sample.id.strip()


@pytest.mark.skipif(not DATA.is_dir(), reason=f"development data absent at {DATA}")
def test_the_development_manifests_point_at_the_data_and_read_cleanly(tmp_path):
    from evaluation.make_manifests import write_all

    summary = write_all(tmp_path / "manifests", DATA, only={"ravdess_dev", "emodb", "cremad", "pyaudioanalysis_va"})
    assert summary["written"]["ravdess_dev.jsonl"] == 240
    assert summary["rows_left_out"].get("emodb boredom (no target)", 0) > 0
    for name in summary["written"]:
        manifest = tmp_path / "manifests" / name
        first = json.loads(manifest.read_text().splitlines()[0])
        assert not Path(first["audio"]).is_absolute()  # relative to the manifest's folder, data not copied
        entries = list(iter_manifest(manifest))
        assert not [e for e in entries if isinstance(e, ManifestProblem)]
        assert len(entries) == summary["written"][name]
    labels = {s.label for s in iter_manifest(tmp_path / "manifests" / "ravdess_dev.jsonl")}
    assert labels == {"anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"}
