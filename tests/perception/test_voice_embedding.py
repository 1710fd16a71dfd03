"""The voice from the Whisper encoder: the ASR pass leaves its states, the voice head reads them, no second pass."""

from __future__ import annotations

import numpy as np
import pytest

from perception.asr import FasterWhisperEngine
from perception.audio import SAMPLE_RATE_HZ, load_audio
from perception.cues import LABELS
from perception.prosody import extract_prosody, load_model
from perception.voice_embedding import EncoderStates, pooled_states


@pytest.fixture(scope="module")
def engine() -> FasterWhisperEngine:
    return FasterWhisperEngine()


def test_pooling_reads_only_the_frames_that_hold_audio():
    states = np.zeros((1500, 4), dtype=np.float32)
    states[:50] = 1.0  # 1 s of audio = 100 mel frames = 50 encoder states; the rest is Whisper's padding
    pooled = pooled_states(EncoderStates(states, mel_frames=100))
    assert pooled.shape == (8,)
    assert np.allclose(pooled[:4], 1.0) and np.allclose(pooled[4:], 0.0)


@pytest.mark.slow
def test_the_asr_pass_leaves_the_states_a_separate_pass_would_give(engine, samples_dir):
    audio = load_audio(samples_dir / "speech_anger.wav")
    transcripts = engine.transcribe(audio, SAMPLE_RATE_HZ)
    assert transcripts  # it heard words, so the encoder ran
    reused = engine.voice_states()
    assert reused is not None and reused.shape == (768,) and np.isfinite(reused).all()
    separate = engine.encode_voice(audio, SAMPLE_RATE_HZ)
    # the same states up to faster-whisper's frame bookkeeping (it drops the last mel frame) and int8 arithmetic
    assert np.abs(reused - separate).mean() < 0.02 and np.corrcoef(reused, separate)[0, 1] > 0.999
    # another utterance leaves other states; silence leaves none (never the previous utterance's)
    engine.transcribe(load_audio(samples_dir / "speech_sadness.wav"), SAMPLE_RATE_HZ)
    other = engine.voice_states()
    assert np.abs(other - reused).mean() > 5 * np.abs(separate - reused).mean()
    engine.transcribe(np.zeros(2 * SAMPLE_RATE_HZ, dtype=np.float32), SAMPLE_RATE_HZ)
    assert engine.voice_states() is None


@pytest.mark.slow
def test_the_voice_head_reads_the_encoder_states(engine, samples_dir):
    model = load_model()
    assert model.encoder is not None, "the shipped prosody model has no encoder head: retrain it"
    audio = load_audio(samples_dir / "speech_joy.wav")
    engine.transcribe(audio, SAMPLE_RATE_HZ)
    states = engine.voice_states()
    with_states = extract_prosody(audio, SAMPLE_RATE_HZ, encoder_states=states)
    without = extract_prosody(audio, SAMPLE_RATE_HZ)
    assert tuple(with_states.probs) == LABELS and sum(with_states.probs.values()) == pytest.approx(1.0)
    assert with_states.probs != pytest.approx(without.probs)  # the encoder head, not the raw head, read it
    assert with_states.features == without.features
    with pytest.raises(ValueError, match="do not fit"):
        extract_prosody(audio, SAMPLE_RATE_HZ, encoder_states=states[:10])
