"""Every endpoint of the web app through gradio_client, against the app served on 127.0.0.1 on a free port."""

from __future__ import annotations

import pytest
from app_helpers import chat_texts
from gradio_client import Client, handle_file

from perception.asr import word_error_rate

pytestmark = pytest.mark.slow


def test_text_turn_gets_a_reply(served):
    url, server = served
    client = Client(url, verbose=False)
    chat, box = client.predict("My best friend is moving away next week.", api_name="/text_turn")
    chat = chat_texts(chat)
    assert box == ""
    assert chat[0] == ("user", "My best friend is moving away next week.")
    assert chat[1][0] == "assistant" and chat[1][1].strip() and not chat[1][1].startswith("(no reply")
    report = client.predict(api_name="/session_report")
    assert report["counters"]["replies"] == 1 and report["turns"] == 1


def test_sessions_never_share_text_or_consent(served):
    url, server = served
    first, second = Client(url, verbose=False), Client(url, verbose=False)
    first.predict(True, api_name="/consent_camera")
    first.predict("I lost my keys again.", api_name="/text_turn")
    report = second.predict(api_name="/session_report")
    assert report["turns"] == 0 and report["consent"]["camera"] is False and report["ledger"] == []
    assert first.predict(api_name="/session_report")["consent"]["camera"] is True


def test_photo_turn_reads_the_face_only_with_camera_consent(served, browser_media):
    url, server = served
    client = Client(url, verbose=False)
    chat, face, words = client.predict(handle_file(str(browser_media["png"])), "", api_name="/photo_turn")
    assert face in (None, {}) or not face.get("confidences")
    report = client.predict(api_name="/session_report")
    assert report["counters"]["frames_analyzed"] == 0 and report["counters"]["frames_dropped_no_consent"] == 1

    status = client.predict(True, api_name="/consent_camera")
    assert "Nothing leaves this machine" in status
    chat, face, words = client.predict(handle_file(str(browser_media["png"])), "Look at my new haircut!",
                                       api_name="/photo_turn")
    assert face["label"] == "joy"
    assert "Face:** joy" in words
    assert chat_texts(chat)[-1][0] == "assistant" and chat_texts(chat)[-2] == ("user", "Look at my new haircut!")
    report = client.predict(api_name="/session_report")
    assert report["counters"]["frames_analyzed"] == 1 and report["face_label"] == "joy"


def test_recording_turn_transcribes_and_replies(served, browser_media):
    url, server = served
    client = Client(url, verbose=False)
    chat, heard = client.predict(handle_file(str(browser_media["wav"])), api_name="/recording_turn")
    assert chat == [] and "microphone off" in heard  # no microphone consent: not even transcribed
    client.predict(True, api_name="/consent_microphone")
    chat, heard = client.predict(handle_file(str(browser_media["wav"])), api_name="/recording_turn")
    said = chat_texts(chat)[0][1]
    assert word_error_rate(browser_media["text"], said) <= 0.2
    assert said in heard
    assert chat_texts(chat)[1][0] == "assistant" and chat_texts(chat)[1][1].strip()
    report = client.predict(api_name="/session_report")
    assert report["counters"]["utterances"] == 1 and report["counters"]["audio_chunks_dropped_no_consent"] == 1
    assert [c["name"] for c in report["ledger"]] == ["microphone"]


def test_a_recording_that_is_not_audio_gets_one_clear_line(served, browser_media):
    from gradio_client.exceptions import AppError

    url, server = served
    client = Client(url, verbose=False)
    client.predict(True, api_name="/consent_microphone")
    with pytest.raises(AppError) as raised:
        client.predict(handle_file(str(browser_media["png"])), api_name="/recording_turn")
    message = str(raised.value)
    assert "browser_face.png" in message and "\n" not in message.strip()


def test_the_app_has_the_evaluate_tab(served):
    url, server = served
    client = Client(url, verbose=False)
    with pytest.raises(Exception, match="type your name"):  # the tab's own check, reached through the whole app
        client.predict("/nowhere", " ", api_name="/evaluate_start")
