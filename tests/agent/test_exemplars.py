import json
from collections import Counter

import pytest

from agent.contracts import NEEDS, Appraisal
from agent.exemplars import BANK_PATH, ExemplarRetriever, load_bank
from agent.reply_check import problems
from basics.labels import LABELS

BANK = load_bank()


def test_bank_is_large_and_covers_every_emotion_and_need():
    assert len(BANK) >= 70
    assert set(Counter(e.emotion for e in BANK)) == set(LABELS)
    assert set(Counter(e.need for e in BANK)) == set(NEEDS)
    assert len({e.id for e in BANK}) == len(BANK)


@pytest.mark.parametrize("exemplar", BANK, ids=lambda e: e.id)
def test_every_exemplar_reply_passes_the_check_for_its_own_appraisal(exemplar):
    appraisal = Appraisal(emotion=exemplar.emotion, intensity=0.6, cause="", need=exemplar.need)
    assert problems(exemplar.reply, appraisal) == []


def test_bank_shares_no_text_with_empathetic_dialogues():
    # the bank is written by the project: no ED listener reply may appear in it
    from evaluation.evaluate_responses import data_dir

    data = data_dir() / "empathetic_dialogues" / "response_valid.jsonl"
    if not data.exists():
        pytest.skip("EmpatheticDialogues dev data not present")
    references = {json.loads(line)["reference_response"].strip().lower() for line in data.open()}
    own = {e.reply.lower() for e in BANK} | {e.user.lower() for e in BANK}
    assert not own & references


def test_malformed_bank_line_names_the_line(tmp_path):
    bad = tmp_path / "bank.jsonl"
    bad.write_text(BANK_PATH.read_text().splitlines()[0] + "\n{\"id\": 1}\n")
    with pytest.raises(ValueError, match=":2:"):
        load_bank(bad)


def test_tfidf_retrieval_prefers_the_same_need_and_topic():
    retriever = ExemplarRetriever(embedder="tfidf")
    appraisal = Appraisal(emotion="joy", intensity=0.8, cause="", need="celebration")
    chosen = retriever.retrieve("I just got promoted at work!", appraisal, k=3)
    assert len(chosen) == 3
    assert all(e.need == "celebration" for e in chosen)
    assert chosen[-1].id == "ex004"  # the promotion exemplar, nearest the real turn
    retry = retriever.retrieve("I just got promoted at work!", appraisal, k=3, skip=3)
    assert not {e.id for e in chosen} & {e.id for e in retry}


@pytest.mark.slow
def test_minilm_retrieval_matches_meaning_not_just_words():
    retriever = ExemplarRetriever(embedder="minilm")
    assert retriever.embedder_name == "minilm"
    appraisal = Appraisal(emotion="sadness", intensity=0.8, cause="", need="to_be_heard")
    chosen = retriever.retrieve("Our family cat had to be euthanised today", appraisal, k=3)
    assert chosen[-1].id == "ex019"  # "We had to put our old dog to sleep": no shared content word
