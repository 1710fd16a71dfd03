"""The samples the Replay and Ablation tabs offer in one click, and uploads turned into something to replay."""

from __future__ import annotations

import json
import zipfile

import pytest

from evaluation.manifest import iter_manifest
from ui.bundled_samples import SAMPLE_SESSION, SAMPLES, plain_note, session_from_upload, write_sample_manifest


def test_the_sample_manifest_lists_every_bundled_clip_and_face_with_its_label(tmp_path):
    manifest = write_sample_manifest(tmp_path)
    lines = [json.loads(line) for line in manifest.read_text().splitlines()]
    transcripts = json.loads((SAMPLES / "transcripts.json").read_text())
    assert {line["id"] for line in lines} == {f"samples/{n}" for n in transcripts} | {"samples/face_joy.png"}
    assert all(line["label"] == transcripts[line["id"].split("/")[1]]["emotion"] for line in lines if "audio" in line)
    entries = list(iter_manifest(manifest))  # the ablation's own reader takes it
    assert len(entries) == len(lines)


def test_a_zip_is_unpacked_by_base_name_so_nothing_escapes(tmp_path):
    archive = tmp_path / "s.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.write(SAMPLE_SESSION / "meta.json", "../../meta.json")
        zipped.writestr("notes.txt", "not a session file")
    folder = session_from_upload([str(archive)], tmp_path / "out")
    assert sorted(p.name for p in folder.iterdir()) == ["meta.json"]
    assert not (tmp_path.parent / "meta.json").exists()


def test_bad_uploads_are_one_line_each(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "b.txt").write_text("y")
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    for paths, words in (([], "nothing uploaded"), ([str(tmp_path / "a.txt"), str(tmp_path / "b.txt")], "none of"),
                         ([str(tmp_path / "bad.zip")], "not a readable zip")):
        with pytest.raises(ValueError, match=words) as raised:
            session_from_upload(paths, tmp_path / "out")
        assert "\n" not in str(raised.value)


def test_a_missing_track_is_explained_in_plain_words():
    assert "no sound" in plain_note("/x/session/audio.wav: missing")
    assert "no video" in plain_note("/x/session/video.mp4: missing")
    assert "missing" not in plain_note("/x/session/video.mp4: missing")
    assert plain_note("something else") == "something else"
