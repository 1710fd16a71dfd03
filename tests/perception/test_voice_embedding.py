"""The voice from the Whisper encoder: the ASR pass leaves its states, the voice head reads them, no second pass."""

from __future__ import annotations

import numpy as np
import pytest

from basics.audio import SAMPLE_RATE_HZ
from basics.labels import LABELS
from perception.asr import FasterWhisperEngine
from perception.audio import load_audio
from perception.prosody import extract_prosody, load_model
from perception.voice_embedding import EncoderStates, EncoderTap, pooled_states


@pytest.fixture(scope="module")
def engine() -> FasterWhisperEngine:
    return FasterWhisperEngine()


def test_pooling_reads_only_the_frames_that_hold_audio():
    states = np.zeros((1500, 4), dtype=np.float32)
    states[:50] = 1.0  # 1 s of audio = 100 mel frames = 50 encoder states; the rest is Whisper's padding
    pooled = pooled_states(EncoderStates(states, mel_frames=100))
    assert pooled.shape == (8,)
    assert np.allclose(pooled[:4], 1.0) and np.allclose(pooled[4:], 0.0)


class FakeWhisper:
    """Stands for faster-whisper's WhisperModel: `encode` returns (batch, 1500, width) states, one window a call."""

    def __init__(self):
        self.calls = 0

    def encode(self, features):
        self.calls += 1
        return np.full((1, 1500, 3), float(self.calls), dtype=np.float32)


def test_the_tap_keeps_the_first_window_of_a_pass_and_forgets_it_on_reset():
    whisper = FakeWhisper()
    tap = EncoderTap(whisper)
    assert tap.pooled(1.0) is None  # nothing encoded yet
    out = whisper.encode(np.zeros((80, 3000)))
    assert out.shape == (1, 1500, 3)  # the decoder still gets what encode returned
    whisper.encode(np.zeros((80, 3000)))  # a second 30 s window of the same pass: not the utterance's start
    pooled = tap.pooled(1.0)
    assert pooled is not None and np.allclose(pooled, [1, 1, 1, 0, 0, 0])
    tap.reset()
    assert tap.pooled(1.0) is None  # never the previous utterance's states
    whisper.encode(np.zeros((80, 3000)))
    assert np.allclose(tap.pooled(1.0)[:3], 3.0)


def test_the_model_reads_encoder_states_with_its_encoder_head_only_when_given():
    from dataclasses import replace

    from perception.prosody import LinearHead

    model = load_model()
    n = len(model.input_names)
    width = 4
    coef = np.zeros((len(model.labels), n + width))
    coef[model.labels.index("anger"), n:] = 5.0  # this head hears anger in the states alone
    head = LinearHead(np.zeros(n + width), np.ones(n + width), coef, np.zeros(len(model.labels)),
                      np.zeros((2, n + width)), np.zeros(2))
    with_head = replace(model, encoder=head)
    features = {name: 0.0 for name in model.input_names}
    probs, _, _, which = with_head.predict(features, None, np.ones(width))
    assert which == "encoder" and max(probs, key=probs.get) == "anger"
    assert with_head.predict(features, None, None)[3] == "raw"
    with pytest.raises(ValueError, match="do not fit"):
        with_head.predict(features, None, np.ones(width + 1))


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
