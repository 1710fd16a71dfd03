"""Turn taking by voice activity: microphone audio, resampled to 16 kHz through one resampler per stream, is
buffered, and once speech has been followed by END_OF_SPEECH_SILENCE_S of silence (or has run MAX_UTTERANCE_S, or
the stream ended) it is cut out as an Utterance: one turn.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from basics.audio import SAMPLE_RATE_HZ
from ui.pipeline.events import AudioChunk, Utterance
from ui.pipeline.models import SpeechSegments

END_OF_SPEECH_SILENCE_S = 0.7  # silence after speech that ends a turn: long enough not to cut at a comma
MIN_UTTERANCE_S = 0.3  # shorter "speech" is a click or a cough
MAX_UTTERANCE_S = 20.0  # a monologue is cut here so the person gets an answer and the buffer stays bounded
IDLE_KEEP_S = 1.0  # with no speech in the buffer, keep only this much (the onset of speech that may follow)
UTTERANCE_PAD_S = 0.15  # around the speech VAD found, so ASR hears the first and last phoneme whole


class TurnTaking:
    """One microphone stream's buffer. `lock` is the session's: a purge and a chunk never interleave."""

    def __init__(self, speech_segments: SpeechSegments | None, lock: threading.RLock,
                 on_problem: Callable[[str], None], on_utterances: Callable[[int], None],
                 vad_status: str = "not loaded") -> None:
        self._speech_segments = speech_segments
        self._lock = lock
        self._problem = on_problem
        self._counted = on_utterances
        self._vad_status = vad_status
        self._audio = np.zeros(0, dtype=np.float32)  # microphone audio at 16 kHz not yet part of a turn
        self._audio_t0_s: float | None = None  # session time of self._audio[0]
        self._resampler: tuple[int, Any] | None = None  # (input rate, soxr stream) of the microphone stream

    @property
    def buffered_s(self) -> float:
        """Microphone audio held, waiting for the end of speech."""
        with self._lock:
            return len(self._audio) / SAMPLE_RATE_HZ

    def to_16k(self, samples: np.ndarray, sample_rate_hz: int) -> np.ndarray:
        """Mono float32 at 16 kHz through one resampler per stream: resampling each chunk on its own would put a
        click at every chunk boundary (every half second), which costs the ASR words."""
        from perception.audio import audio_from_array

        mono = audio_from_array(samples, sample_rate_hz, sample_rate_hz, label="microphone chunk")
        if sample_rate_hz == SAMPLE_RATE_HZ:
            return mono
        with self._lock:
            if self._resampler is None or self._resampler[0] != sample_rate_hz:
                import soxr

                self._resampler = (sample_rate_hz, soxr.ResampleStream(sample_rate_hz, SAMPLE_RATE_HZ, 1,
                                                                       dtype="float32"))
            return self._resampler[1].resample_chunk(mono)

    def buffer(self, chunk: AudioChunk) -> None:
        """Add a chunk (the caller holds the lock and has checked consent)."""
        with self._lock:
            if self._audio_t0_s is None or not len(self._audio):
                self._audio_t0_s = float(chunk.t_s)
            self._audio = np.concatenate([self._audio, chunk.samples_16k])

    def process(self, item: AudioChunk) -> Sequence[Utterance]:
        """The utterances this chunk finished."""
        self.buffer(item)
        return self.cut(final=False)

    def end(self) -> list[Utterance]:
        """The microphone stopped (or the file ended): whatever speech is buffered is an utterance."""
        with self._lock:
            resampler, self._resampler = self._resampler, None
            if resampler is not None and self._audio_t0_s is not None:  # what the resampler still holds
                self._audio = np.concatenate([self._audio, resampler[1].resample_chunk(
                    np.zeros(0, dtype=np.float32), last=True)])
        return self.cut(final=True)

    def cut(self, final: bool) -> list[Utterance]:
        """The finished utterances at the front of the buffer. Speech segments closer than END_OF_SPEECH_SILENCE_S
        belong to one utterance; an utterance is finished once that much silence follows it (or `final`), or when it
        has run MAX_UTTERANCE_S."""
        with self._lock:
            audio, t0 = self._audio, self._audio_t0_s
        if t0 is None or not len(audio):
            return []
        if self._speech_segments is None:
            self._problem("voice activity detection unavailable: " + self._vad_status)
            return []
        segments = self._speech_segments(audio)  # Silero's ONNX session is safe to call from many threads
        duration_s = len(audio) / SAMPLE_RATE_HZ
        groups: list[list[float]] = []
        for start_s, end_s in segments:
            if groups and start_s - groups[-1][1] < END_OF_SPEECH_SILENCE_S:
                groups[-1][1] = end_s
            else:
                groups.append([start_s, end_s])
        finished = [g for g in groups if final or duration_s - g[1] >= END_OF_SPEECH_SILENCE_S
                    or g[1] - g[0] >= MAX_UTTERANCE_S]
        if finished:
            cut_at_s = min(duration_s, finished[-1][1] + UTTERANCE_PAD_S)
        elif not groups and (final or duration_s > IDLE_KEEP_S):
            cut_at_s = duration_s if final else duration_s - IDLE_KEEP_S  # silence only: forget it
        else:
            return []
        cut = int(cut_at_s * SAMPLE_RATE_HZ)
        with self._lock:
            if self._audio_t0_s != t0:  # purged meanwhile
                return []
            self._audio = self._audio[cut:]
            self._audio_t0_s = t0 + cut / SAMPLE_RATE_HZ if len(self._audio) else None
        now = time.perf_counter()
        utterances = []
        for start_s, end_s in finished:
            start = max(0, int((start_s - UTTERANCE_PAD_S) * SAMPLE_RATE_HZ))
            stop = min(len(audio), int((end_s + UTTERANCE_PAD_S) * SAMPLE_RATE_HZ))
            if (stop - start) / SAMPLE_RATE_HZ < MIN_UTTERANCE_S:
                continue
            # When the speech really ended, in wall time: the silence we waited for is part of the person's wait.
            speech_ended_at = now - max(0.0, duration_s - end_s)
            utterances.append(Utterance(audio[start:stop], t0 + start / SAMPLE_RATE_HZ, t0 + stop / SAMPLE_RATE_HZ,
                                        speech_ended_at))
        self._counted(len(utterances))
        return utterances

    def purge(self, modality: str) -> None:
        if modality != "voice":
            return
        with self._lock:
            self._audio = np.zeros(0, dtype=np.float32)
            self._audio_t0_s = None
            self._resampler = None  # it holds the last few milliseconds of audio too

    def close(self) -> None:
        """Nothing held but memory."""
