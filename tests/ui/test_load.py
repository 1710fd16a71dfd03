"""Five people at once through gradio_client against one app on 127.0.0.1: each keeps its own state (consent,
words, emotion reading, conversation), nothing leaks between sessions, and every one of them gets its replies."""

from __future__ import annotations

import threading

import pytest
from app_helpers import chat_texts
from gradio_client import Client

from basics.labels import top_label

pytestmark = pytest.mark.slow

PEOPLE = [  # (what they say, the toggles they turn on)
    (["I finally got the job I wanted!", "We are celebrating tonight with the whole family!"], ["camera"]),
    (["My grandmother passed away last night.", "I keep crying when I see her photos."], ["microphone"]),
    (["Someone keyed my car and I am furious.", "The police would not even take a report."], []),
    (["I have a biopsy tomorrow and I'm terrified.", "What if the results are bad?"], ["camera", "store"]),
    (["My best friend is moving to Australia and I feel so sad.", "I will miss her every day."],
     ["microphone", "camera"]),
]


def test_five_simultaneous_sessions_keep_their_own_state(served, models):
    url, server = served
    results: dict[int, dict] = {}
    errors: list[str] = []
    start = threading.Barrier(len(PEOPLE))

    def person(i: int) -> None:
        said, toggles = PEOPLE[i]
        try:
            client = Client(url, verbose=False)
            start.wait(timeout=60)  # all five at once
            for name in toggles:
                client.predict(True, api_name=f"/consent_{name}")
            chats = [chat_texts(client.predict(line, api_name="/text_turn")[0]) for line in said]
            results[i] = {"client": client, "hash": client.session_hash, "chats": chats,  # the tab stays open
                          "report": client.predict(api_name="/session_report")}
        except Exception as err:
            errors.append(f"person {i}: {type(err).__name__}: {err}")

    people = [threading.Thread(target=person, args=(i,)) for i in range(len(PEOPLE))]
    for p in people:
        p.start()
    for p in people:
        p.join(timeout=300)
    assert not errors and len(results) == len(PEOPLE), errors

    everyone_said = {line for said, _ in PEOPLE for line in said}
    for i, (said, toggles) in enumerate(PEOPLE):
        result = results[i]
        # replies keep coming: each turn answered, in this person's own conversation
        for turn, chat in enumerate(result["chats"]):
            assert [role for role, _ in chat] == ["user", "assistant"] * (turn + 1)
            assert [text for role, text in chat if role == "user"] == said[:turn + 1]  # only their own words
            assert all(text.strip() and not text.startswith("(no reply") for role, text in chat if role == "assistant")
        report = result["report"]
        assert report["turns"] == 2 and report["counters"]["replies"] == 2
        assert report["consent"] == {name: name in toggles for name in ("camera", "microphone", "store", "remote")}
        assert [c["name"] for c in report["ledger"]] == toggles
        # the session on the server: its own words, its own reading of them
        session = server.sessions[result["hash"]]
        user_lines = [m["content"] for m in session.chat if m["role"] == "user"]
        assert user_lines == said and not (set(user_lines) & (everyone_said - set(said)))
        alone = [models.text_emotion.predict(line) for line in said]  # the same words read in no session
        assert session.last_text_emotion.text == said[-1]
        assert session.last_text_emotion.probs == pytest.approx(alone[-1].probs, abs=1e-5)
        assert session.state is not None and session.state.label in {top_label(r.probs) for r in alone}
        assert [e["text"] for e in session.timeline() if e["kind"] in ("text", "transcript")] == said
    assert len({r["hash"] for r in results.values()}) == len(PEOPLE)


def silent_wav(path, seconds: float, sample_rate_hz: int = 8000):
    import numpy as np
    import soundfile

    soundfile.write(path, np.zeros(int(seconds * sample_rate_hz), dtype=np.int16), sample_rate_hz, subtype="PCM_16")
    return path


def test_uploads_over_the_limits_get_one_clear_line(served, tmp_path, monkeypatch):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    import ui.live_tab

    url, server = served
    client = Client(url, verbose=False)
    client.predict(True, api_name="/consent_microphone")
    with pytest.raises(AppError) as raised:
        client.predict(handle_file(str(silent_wav(tmp_path / "long_talk.wav", ui.live_tab.MAX_RECORDING_S + 5))),
                       api_name="/recording_turn")
    message = str(raised.value).strip()
    assert "long_talk.wav" in message and f"longer than {ui.live_tab.MAX_RECORDING_S:.0f} s" in message
    assert "\n" not in message and "iter_audio_windows" not in message
    monkeypatch.setattr(ui.live_tab, "MAX_UPLOAD_MB", 1)
    with pytest.raises(AppError) as raised:
        client.predict(handle_file(str(silent_wav(tmp_path / "big.wav", 70))), api_name="/recording_turn")  # ~1.1 MB
    message = str(raised.value).strip()
    assert "big.wav" in message and "over the 1 MB limit" in message and "\n" not in message
    report = client.predict(api_name="/session_report")
    assert report["turns"] == 0 and report["counters"]["utterances"] == 0  # neither reached a model
