"""The models the live session loads, read as the command line reads them."""

from __future__ import annotations

import pytest

from agent.appraisal import load_text_emotion
from basics.labels import top_label


@pytest.fixture(scope="module")
def session_models():
    from ui.session import load_models

    return load_models(parts=("text", "responder"))


@pytest.mark.parametrize("text, emotion", [
    ("I have my driving test tomorrow and I can't sleep.", "fear"),  # the bare model reads joy
    ("My landlord kept my whole deposit and I'm furious.", "anger"),  # the bare model reads sadness
])
def test_the_live_appraisal_reads_the_words_as_empathic_respond_does(session_models, text, emotion):
    live = session_models.local_responder.respond(text).appraisal  # templates only: the appraisal is compared
    reading, _ = load_text_emotion("auto")
    assert reading is not None
    assert live.emotion == top_label(reading(text)) == emotion
