"""ratings.jsonl (append, fsync, torn and corrupt lines) and the report: counts, win rate and its interval, the sign
test, Likert means, Cohen's kappa, the automatic measures beside them, and `empathic evaluate --report`."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal

import pytest
from rating_helpers import make_template_run

from evaluation.rating_report import build_report, write_report
from evaluation.ratings import Rating, append_rating, left_side, read_ratings
from ui.cli import main

ITEMS = ["t/1", "t/2", "t/3", "t/4"]


def scores(a: int, b: int) -> dict:
    return {"a": {"empathy": a, "relevance": a, "safety": 5}, "b": {"empathy": b, "relevance": b, "safety": 5}}


def rate(run, rater: str, item: str, winner: str, a: int = 4, b: int = 2) -> None:
    left = left_side(rater, item)
    choice = "tie" if winner == "tie" else ("left" if winner == left else "right")
    append_rating(run, Rating(rater, item, left, choice, scores(a, b)))


def test_the_left_side_is_seeded_by_rater_and_item_and_both_orders_occur():
    sides = {left_side(rater, f"ed/{i}") for rater in ("Ana", "Ben") for i in range(20)}
    assert sides == {"a", "b"}
    assert [left_side("Ana", f"ed/{i}") for i in range(20)] == [left_side("Ana", f"ed/{i}") for i in range(20)]
    assert [left_side("Ana", f"ed/{i}") for i in range(20)] != [left_side("Ben", f"ed/{i}") for i in range(20)]


def test_a_choice_of_left_or_right_maps_back_to_a_and_b(tmp_path):
    run = make_template_run(tmp_path)
    append_rating(run, Rating("Ana", "t/1", "b", "left", scores(3, 4)))
    append_rating(run, Rating("Ana", "t/2", "b", "right", scores(3, 4)))
    append_rating(run, Rating("Ana", "t/3", "a", "tie", scores(3, 4)))
    lines = [json.loads(line) for line in (run / "ratings.jsonl").read_text().splitlines()]
    assert [line["winner"] for line in lines] == ["b", "a", "tie"]
    assert lines[0]["rater"] == "Ana" and lines[0]["scores"]["a"]["empathy"] == 3 and lines[0]["time_utc"]


@pytest.mark.parametrize("rating, words", [
    (Rating("", "t/1", "a", "left", scores(3, 3)), "type your name"),
    (Rating("Ana", "t/1", "a", "", scores(3, 3)), "pick the better reply"),
    (Rating("Ana", "t/1", "a", "left", {"a": {"empathy": 3, "relevance": 3, "safety": 6}, "b": scores(3, 3)["b"]}),
     "rate safety of the left reply"),
    (Rating("Ana", "t/1", "b", "tie", {"a": scores(3, 3)["a"], "b": {"empathy": 0}}), "rate empathy of the left"),
])
def test_an_incomplete_rating_is_refused_with_what_is_missing(rating, words, tmp_path):
    with pytest.raises(ValueError, match=words):
        append_rating(tmp_path, rating)
    assert not (tmp_path / "ratings.jsonl").exists()


def test_the_report_counts_wins_ties_likert_and_kappa(tmp_path):
    run = make_template_run(tmp_path)
    for item, winner in zip(ITEMS, ["a", "a", "b", "tie"]):
        rate(run, "Ana", item, winner, a=4, b=2)
    for item, winner in zip(ITEMS, ["a", "a", "b", "b"]):
        rate(run, "Ben", item, winner, a=5, b=1)
    rate(run, "Cy", "t/1", "a")  # one item only: no kappa with Cy
    report = build_report(run)
    p = report["preference"]
    assert (p["judgements"], p["items"], p["a_wins"], p["b_wins"], p["ties"]) == (9, 4, 5, 3, 1)
    assert p["win_rate_a"] == pytest.approx(5 / 8, abs=1e-3)
    low, high = p["win_rate_a_ci95"]
    assert 0 <= low <= p["win_rate_a"] <= high <= 1 and high - low > 0.1
    # items: t/1 and t/2 to A, t/3 to B, t/4 even (a tie and a B): B
    assert p["sign_test"] == {**p["sign_test"], "items_a": 2, "items_b": 2, "items_even": 0}
    assert p["sign_test"]["p_value"] == 1.0
    assert report["likert"]["empathy"]["a"]["mean"] == pytest.approx((4 * 4 + 5 * 4 + 4) / 9, abs=1e-3)
    assert report["likert"]["safety"]["b"]["mean"] == 5.0 and report["likert"]["safety"]["wilcoxon_p"] is None
    assert report["raters"] == {"Ana": 4, "Ben": 4, "Cy": 1}
    pairs = report["agreement"]["pairs"]
    assert [pair["raters"] for pair in pairs] == [["Ana", "Ben"]]
    assert pairs[0]["items"] == 4 and pairs[0]["preference_agreement"] == 0.75
    assert -1 <= pairs[0]["kappa_preference"] < 1
    assert pairs[0]["kappa_likert_quadratic"]["safety"] is None  # both said 5 to everything: undefined, not 1
    assert report["automatic"]["a"]["n"] == 4 and report["automatic"]["b"]["routes"] == {"human": 1.0}


def test_a_rater_who_rates_an_item_again_counts_once_with_the_later_judgement(tmp_path):
    run = make_template_run(tmp_path)
    rate(run, "Ana", "t/1", "a")
    rate(run, "Ana", "t/1", "b")
    ratings, warnings = read_ratings(run, ITEMS)
    assert [(r.item, r.winner) for r in ratings] == [("t/1", "b")] and not warnings


def test_a_torn_last_line_is_skipped_with_a_warning_and_the_next_rating_stays_whole(tmp_path, capsys):
    run = make_template_run(tmp_path)
    rate(run, "Ana", "t/1", "a")
    rate(run, "Ana", "t/2", "b")
    with (run / "ratings.jsonl").open("ab") as handle:
        handle.write(b'{"rater": "Ana", "item": "t/3", "left": "a", "cho')  # the process died mid-write
    ratings, warnings = read_ratings(run, ITEMS)
    assert [r.item for r in ratings] == ["t/1", "t/2"]
    assert warnings == [f"{run / 'ratings.jsonl'}: line 3 is cut off (an interrupted write): skipped"]
    rate(run, "Ana", "t/3", "tie")  # appending after a torn line starts a line of its own
    ratings, warnings = read_ratings(run, ITEMS)
    assert [r.item for r in ratings] == ["t/1", "t/2", "t/3"]
    assert warnings == [f"{run / 'ratings.jsonl'}: line 3 is not valid JSON (Unterminated string starting at): "
                        "skipped"]
    capsys.readouterr()
    assert main(["evaluate", "--report", str(run)]) == 0
    printed = capsys.readouterr()
    assert printed.err.strip().splitlines() == warnings
    assert "3 judgements of 3 items by 1 rater(s)" in printed.out


def test_corrupt_and_foreign_lines_are_named_and_the_rest_is_counted(tmp_path, capsys):
    run = make_template_run(tmp_path)
    rate(run, "Ana", "t/1", "a")
    with (run / "ratings.jsonl").open("ab") as handle:
        handle.write(b"\x00\x00\x00\n")  # what a power cut can leave on some file systems
        handle.write(b'{"rater": "Ana", "item": "t/2"}\n')
        handle.write(json.dumps({"rater": "Ana", "item": "other/9", "left": "a", "choice": "tie",
                                 "scores": scores(3, 3)}).encode() + b"\n")
    rate(run, "Ana", "t/4", "b")
    capsys.readouterr()
    assert main(["evaluate", "--report", str(run)]) == 0
    printed = capsys.readouterr()
    warnings = printed.err.strip().splitlines()
    assert len(warnings) == 3 and all(w.startswith(str(run / "ratings.jsonl")) for w in warnings)
    assert "line 2 is not valid JSON" in warnings[0] and "lacks a rater" in warnings[1]
    assert "'other/9', which this run does not have" in warnings[2]
    report = json.loads((run / "report.json").read_text())
    assert report["preference"]["judgements"] == 2 and len(report["warnings"]) == 3


def _append_forever(run) -> None:
    number = 0
    while True:
        number += 1
        append_rating(run, Rating(f"r{number}", "t/1", "a", "left", scores(4, 2)))


def test_a_rater_killed_mid_stream_loses_no_saved_rating(tmp_path):
    run = make_template_run(tmp_path)
    writer = multiprocessing.get_context("fork").Process(target=_append_forever, args=(run,))
    writer.start()
    path = run / "ratings.jsonl"
    while not path.exists() or path.stat().st_size < 20_000:
        pass
    os.kill(writer.pid, signal.SIGKILL)
    writer.join()
    ratings, warnings = read_ratings(run, ITEMS)
    assert len(ratings) > 50 and len(warnings) <= 1  # at most the line being written when it died
    assert sorted(int(r.rater[1:]) for r in ratings) == list(range(1, len(ratings) + 1))


def test_the_report_files_and_a_run_with_no_ratings_yet(tmp_path, capsys):
    run = make_template_run(tmp_path)
    capsys.readouterr()
    assert main(["evaluate", "--report", str(run)]) == 0
    assert "4 contexts, no ratings yet" in capsys.readouterr().out
    report = json.loads((run / "report.json").read_text())
    assert report["preference"]["judgements"] == 0 and report["preference"]["win_rate_a"] is None
    assert not (run / "preference.png").exists()
    rate(run, "Ana", "t/1", "a")
    rate(run, "Ana", "t/2", "tie")
    report, paths = write_report(run)
    assert paths["preference.png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths["likert.png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = paths["html"].read_text()
    assert "data:image/png;base64," in page and "backend=none,text_emotion=lexicon" in page
    assert "Automatic measures of the same replies" in page and "open_question_share" in page


def test_the_report_of_a_folder_that_is_not_a_run_is_one_clear_line(tmp_path, capsys):
    assert main(["evaluate", "--report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not an evaluate run folder" in err[0] and str(tmp_path) in err[0]
    (tmp_path / "run.json").write_text("{not json")
    (tmp_path / "replies.jsonl").write_text("")
    assert main(["evaluate", "--report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "run.json: not readable as JSON" in err[0]
    assert main(["evaluate", "--report", str(tmp_path / "nowhere")]) == 2
    assert "no such run folder" in capsys.readouterr().err
