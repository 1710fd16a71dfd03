"""perception.perceive: one file-to-cues path, over time (perceive) and one reading per clip (the ablation)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from basics.audio import SAMPLE_RATE_HZ
from perception.perceive import (
    FACE_CROP_MAX_SIDE_PX,
    perceive_audio,
    read_clip_face,
    read_clip_voice,
    read_voice,
    transcript_text,
    utterance_audio,
)

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


class NoEncoder:
    """An engine with no encoder to read (openai-whisper): the voice is the prosody alone."""

    name, model = "fake", "none"


@pytest.fixture(scope="module")
def engine():
    from perception.asr import make_asr

    return make_asr()


@pytest.mark.slow
def test_the_voice_reads_the_states_live_speech_to_text_leaves(engine):
    from perception.audio import load_audio
    from perception.prosody import extract_prosody

    audio = load_audio(SAMPLES / "speech_sadness.wav")
    engine.transcribe(audio, SAMPLE_RATE_HZ)
    live_states = engine.voice_states()  # what ui.pipeline's Transcriber hands the voice reader
    states = engine.encode_voice(audio, SAMPLE_RATE_HZ)
    cosine = float(live_states @ states / np.linalg.norm(live_states) / np.linalg.norm(states))
    assert cosine > 0.999
    voice = read_voice(audio, engine)
    assert voice == extract_prosody(audio, SAMPLE_RATE_HZ, encoder_states=states)
    assert voice.probs != extract_prosody(audio, SAMPLE_RATE_HZ).probs  # the encoder head has its say
    assert read_voice(audio, NoEncoder()) == extract_prosody(audio, SAMPLE_RATE_HZ)  # type: ignore[arg-type]
    assert read_clip_voice(SAMPLES / "speech_sadness.wav", engine) == voice


@pytest.mark.slow
def test_perceive_reads_each_utterance_as_the_clip_readers_do_against_the_running_baseline(engine):
    from perception.asr import transcribe_file
    from perception.prosody import SpeakerBaseline

    path = SAMPLES / "speech_long.wav"
    document = perceive_audio(path)
    transcripts = transcribe_file(path, engine)
    assert document["text"] == transcript_text(transcripts) and len(document["utterances"]) == len(transcripts) > 2
    baseline = SpeakerBaseline()
    for utterance, transcript, samples in zip(document["utterances"], transcripts,
                                              utterance_audio(path, transcripts)):
        voice = read_voice(samples, engine, transcript.t_start_s, transcript.t_end_s, baseline)
        assert utterance["prosody"]["probs"] == pytest.approx(voice.probs)
    assert any(abs(z) > 0 for z in document["utterances"][-1]["prosody"]["z_scores"].values())


@pytest.mark.slow
def test_a_small_picture_is_read_as_a_face_crop_and_a_large_one_is_not(tmp_path):
    from PIL import Image

    gray = np.full((FACE_CROP_MAX_SIDE_PX, FACE_CROP_MAX_SIDE_PX, 3), 128, dtype=np.uint8)
    small, large = tmp_path / "small.png", tmp_path / "large.png"
    Image.fromarray(gray).save(small)
    Image.fromarray(np.tile(gray, (2, 2, 1))).save(large)
    crop = read_clip_face(small, is_image=True)
    assert crop.confidence > 0 and "CNN alone" in crop.reason
    whole = read_clip_face(large, is_image=True)
    assert whole.confidence == 0 and whole.reason == "no face found"


@pytest.mark.slow
def test_a_video_is_one_pooled_reading():
    pooled = read_clip_face(SAMPLES / "face_video.mp4", is_image=False, fps=2.0)
    assert pooled.faces_seen >= 1 and pooled.t_end_s > 0 and 0 < pooled.confidence <= 1
