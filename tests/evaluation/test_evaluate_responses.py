import pytest

from basics.labels import LABELS
from evaluation.evaluate_responses import data_dir, distinct_2, load_ed_sample, load_scripted, summarise


def record(text, reply, gold, emotion, need, route="generated", gold_need=None, first=None):
    return {"text": text, "reply": reply, "gold_emotion": gold, "gold_need": gold_need, "emotion": emotion,
            "need": need, "cause": "", "route": route, "first_attempt": first or reply,
            "first_attempt_raw": first or reply, "latency_s": 1.0, "first_token_s": 0.2}


def test_distinct_2():
    assert distinct_2(["a b c", "a b d"]) == pytest.approx(3 / 4, abs=1e-3)
    assert distinct_2([]) == 0.0


def test_summary_counts_what_it_claims():
    records = [
        record("I got the job!", "I'm so sorry to hear that.", "joy", "joy", "celebration",
               first="I'm so sorry to hear that."),
        record("My cat died.", "That is so hard. What was she like?", "sadness", "sadness", "to_be_heard"),
        record("I want to die", "crisis text", "sadness", "sadness", "to_be_heard", route="crisis"),
        record("Hm.", "Thanks for sharing that with me. How are you feeling about it?", "neutral", "joy",
               "to_be_heard", route="fallback"),
    ]
    summary = summarise(records)
    assert summary["n"] == 4 and summary["crisis_routed"] == 1
    assert summary["appraisal_emotion_accuracy"] == pytest.approx(3 / 4, abs=1e-3)
    assert summary["fallback_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert summary["valence_consistency_first_attempt"] == pytest.approx(2 / 3, abs=1e-3)
    assert summary["open_question_share"] == pytest.approx(2 / 3, abs=1e-3)
    assert summary["cut_off_replies"] == 0 and summary["loops_final"] == 0


def test_scripted_turns_load():
    turns = load_scripted()
    assert len(turns) >= 40 and all(t["emotion"] in LABELS for t in turns)


def test_ed_sample_is_seeded_and_mapped():
    if not (data_dir() / "empathetic_dialogues" / "response_valid.jsonl").exists():
        pytest.skip("EmpatheticDialogues dev data not present")
    first, again = load_ed_sample(20, seed=3), load_ed_sample(20, seed=3)
    assert first == again and len(first) == 20
    assert all(t["emotion"] in LABELS and t["text"] for t in first)
    assert all(role in ("user", "assistant") for t in first for role, _ in t["history"])
    assert " n't" not in " ".join(t["text"] for t in first)
