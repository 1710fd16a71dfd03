"""How something was said: pitch, energy, speech rate, pauses and voice quality from 16 kHz mono speech, their
z-scores against the speaker's running baseline, and a small trained model's reading of them (7 labels, valence,
arousal).

Measurement, on 10 ms frames:
- Energy: frame RMS level in dBFS over speech frames (it follows the microphone's gain as much as the voice, which
  is what the speaker-baseline z-scores take out).
- Speech frames: RMS level above max(loudest 5 % - 30 dB, -55 dBFS). The speech span runs from the first to the
  last speech frame; pauses are runs of non-speech inside it of at least PAUSE_MIN_S.
- Pitch: F0 from YIN (librosa.yin; ~0.005x real time where plain pyin is ~0.8x here). A speech frame is voiced
  when the normalised autocorrelation at YIN's pitch lag is >= VOICING_THRESHOLD (Praat decides voicing much
  the same way) and its F0 lies within 9 semitones of the clip's median (drops YIN's octave slips).
- Speech rate: syllable nuclei counted as peaks of the smoothed level contour that stand >= 2 dB above their
  surroundings, lie at least 80 ms apart, are voiced and above the speech threshold (after de Jong & Wempe 2009),
  divided by the speech span in seconds.
- Voice quality proxies (frame-level, so cruder than Praat's cycle-level measures): jitter as the mean relative
  change of the pitch period between adjacent voiced frames, shimmer as the mean absolute level change (dB)
  between adjacent voiced frames, HNR from the normalised autocorrelation at the pitch lag, spectral tilt as the
  slope (dB per kHz) of the mean voiced spectrum between 0 and 4 kHz.

Bad input never raises: silence, clips shorter than MIN_DURATION_S or longer than MAX_DURATION_S (not one
utterance), empty or non-finite audio give a valid cue with confidence 0, uniform probabilities, NaN for what could
not be measured and `reason` saying why. Only input that is not audio at all (not a 1-D or 2-D numeric array, or a
non-positive sample rate) raises MediaError; a missing or corrupt model file raises ModelUnavailableError.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from basics.audio import SAMPLE_RATE_HZ  # the one rate VAD, ASR, prosody and the recorder work at
from basics.errors import MediaError, ModelUnavailableError
from basics.labels import LABELS, normalise_probs, uniform_probs
from perception.cues import ProsodyCues

HOP_LENGTH = 160  # 10 ms frames
N_FFT = 512  # 32 ms analysis window for level and spectrum
PITCH_FRAME_LENGTH = 1024  # 64 ms: two periods of the lowest pitch
PITCH_FMIN_HZ = 60.0
PITCH_FMAX_HZ = 500.0
VOICING_THRESHOLD = 0.5  # normalised autocorrelation at the pitch lag
MIN_DURATION_S = 0.25
MAX_DURATION_S = 120.0
SILENCE_DBFS = -55.0  # loudest frames below this: nothing to measure
SPEECH_BELOW_PEAK_DB = 30.0
PAUSE_MIN_S = 0.15
NUCLEUS_PROMINENCE_DB = 2.0
NUCLEUS_MIN_GAP_S = 0.08
MODEL_PATH = Path(__file__).parent / "weights" / "prosody_model.npz"

# The human-readable features (ProsodyCues.features and z_scores use these keys).
FEATURE_NAMES: tuple[str, ...] = (
    "duration_s",
    "pitch_hz_mean",
    "pitch_hz_sd",
    "pitch_hz_range",
    "pitch_st_sd",
    "pitch_st_range",
    "pitch_slope_st_per_s",
    "energy_db_mean",
    "energy_db_sd",
    "energy_db_range",
    "speech_rate_sps",
    "pause_ratio",
    "voiced_ratio",
    "jitter_rel",
    "shimmer_db",
    "hnr_db",
    "spectral_tilt_db_per_khz",
    "spectral_centroid_hz",
    "spectral_flatness",
)
# The model reads the named features only: adding MFCC and spectral-contrast statistics lowered leave-one-speaker-out
# accuracy (0.42 against 0.45; they learn each corpus's microphone more than the emotion).
MODEL_INPUT_NAMES: tuple[str, ...] = FEATURE_NAMES


@dataclass(frozen=True)
class Measurement:
    """What was measured in one clip: the named features and how trustworthy the measurement is (0 when nothing
    could be measured; `reason` then says why)."""

    features: dict[str, float]
    quality: float
    reason: str = ""

    def model_input(self) -> np.ndarray:
        return np.array([self.features[n] for n in MODEL_INPUT_NAMES])


def _empty_measurement(duration_s: float, reason: str) -> Measurement:
    features = {name: math.nan for name in FEATURE_NAMES}
    features["duration_s"] = duration_s
    return Measurement(features, 0.0, reason)


def _as_mono(audio, sample_rate_hz: int) -> np.ndarray:
    if not isinstance(sample_rate_hz, (int, np.integer)) or sample_rate_hz <= 0:
        raise MediaError(f"prosody: sample rate must be a positive integer, got {sample_rate_hz!r}")
    try:
        y = np.asarray(audio, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise MediaError(f"prosody: audio is not a numeric array ({err})") from None
    if y.ndim == 2:
        y = y.mean(axis=0 if y.shape[0] < y.shape[1] else 1)
    if y.ndim != 1:
        raise MediaError(f"prosody: audio must be mono or stereo samples, got an array of shape {y.shape}")
    return y


def _resample_16k(y: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    if sample_rate_hz != SAMPLE_RATE_HZ and y.size and np.isfinite(y).all():
        import librosa

        y = librosa.resample(y, orig_sr=int(sample_rate_hz), target_sr=SAMPLE_RATE_HZ, res_type="soxr_hq")
    return y


def as_mono_16k(audio, sample_rate_hz: int) -> np.ndarray:
    """float32 mono at 16 kHz; stereo (channels first or last) is averaged. Raises MediaError if it is not audio."""
    return _resample_16k(_as_mono(audio, sample_rate_hz), int(sample_rate_hz))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) index pairs of the True runs in a boolean array."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2], edges[1::2]))


def _periodicity(y: np.ndarray, f0_hz: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Normalised autocorrelation at the YIN pitch lag, per frame (0 where not computed): near 1 for a clean
    periodic voice, near 0 for noise. It decides voicing (as Praat's voicing threshold does) and gives the HNR."""
    half = PITCH_FRAME_LENGTH // 2
    padded = np.pad(y, half)
    r = np.zeros(len(f0_hz))
    for i in np.flatnonzero(frames):
        lag = int(round(SAMPLE_RATE_HZ / f0_hz[i]))
        frame = padded[i * HOP_LENGTH : i * HOP_LENGTH + PITCH_FRAME_LENGTH]
        if lag >= len(frame) // 2:
            continue
        a, b = frame[:-lag], frame[lag:]
        denom = math.sqrt(float(a @ a) * float(b @ b))
        if denom > 0:
            r[i] = float(a @ b) / denom
    return r


def measure(y: np.ndarray) -> Measurement:
    """Measure one utterance of 16 kHz float32 mono audio. Never raises on silence, short or non-finite audio."""
    import librosa
    from scipy.signal import find_peaks

    duration_s = len(y) / SAMPLE_RATE_HZ
    if len(y) == 0:
        return _empty_measurement(0.0, "empty audio")
    if not np.isfinite(y).all():
        return _empty_measurement(duration_s, "audio has NaN or infinite samples")
    if duration_s < MIN_DURATION_S:
        return _empty_measurement(duration_s, f"too short ({duration_s:.2f} s < {MIN_DURATION_S} s)")

    y = y.astype(np.float32)
    power = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP_LENGTH)) ** 2  # (bins, frames)
    frame_rms = np.sqrt(power.sum(axis=0) * 2 / (N_FFT * N_FFT * 0.375))  # Hann window power correction
    level_db = 20 * np.log10(np.maximum(frame_rms, 1e-10))
    loud_db = float(np.percentile(level_db, 95))
    if loud_db < SILENCE_DBFS:
        return _empty_measurement(duration_s, f"silence (loudest frames {loud_db:.0f} dBFS)")
    speech = level_db > max(loud_db - SPEECH_BELOW_PEAK_DB, SILENCE_DBFS)
    speech_idx = np.flatnonzero(speech)
    if len(speech_idx) == 0:
        return _empty_measurement(duration_s, f"silence (loudest frames {loud_db:.0f} dBFS)")
    first, last = int(speech_idx[0]), int(speech_idx[-1]) + 1
    span_s = (last - first) * HOP_LENGTH / SAMPLE_RATE_HZ
    pause_frames = sum(
        stop - start
        for start, stop in _runs(~speech[first:last])
        if (stop - start) * HOP_LENGTH / SAMPLE_RATE_HZ >= PAUSE_MIN_S
    )
    pause_ratio = pause_frames / max(last - first, 1)

    f0 = librosa.yin(
        y, fmin=PITCH_FMIN_HZ, fmax=PITCH_FMAX_HZ, sr=SAMPLE_RATE_HZ, frame_length=PITCH_FRAME_LENGTH,
        hop_length=HOP_LENGTH,
    )
    n = min(power.shape[1], len(f0))
    power, level_db, speech, f0 = power[:, :n], level_db[:n], speech[:n], f0[:n]
    periodicity = _periodicity(y, f0, speech)
    voiced = speech & (periodicity >= VOICING_THRESHOLD)
    if voiced.sum() >= 3:
        # YIN's octave slips: a voiced frame more than 9 semitones off the clip's median pitch is not trusted
        median_f0 = np.median(f0[voiced])
        voiced &= np.abs(12 * np.log2(f0 / median_f0)) <= 9.0
    voiced_ratio = float(voiced[first:last].sum() / max(last - first, 1))

    f0_voiced = f0[voiced]
    if len(f0_voiced) >= 3:
        semitones = 12 * np.log2(f0_voiced / 100.0)
        t_s = np.flatnonzero(voiced) * HOP_LENGTH / SAMPLE_RATE_HZ
        pitch_slope = float(np.polyfit(t_s, semitones, 1)[0]) if np.ptp(t_s) > 0 else 0.0
        p5, p95 = np.percentile(f0_voiced, [5, 95])
        st5, st95 = np.percentile(semitones, [5, 95])
        # Hz spreads scale with the voice's own pitch; semitone spreads compare a low and a high voice fairly
        pitch = (float(np.mean(f0_voiced)), float(np.std(f0_voiced)), float(p95 - p5), float(np.std(semitones)),
                 float(st95 - st5), pitch_slope)
        # adjacent voiced frames only: a change across an unvoiced gap is not jitter
        pairs = voiced[1:] & voiced[:-1]
        periods = 1.0 / f0
        jitter = float(np.mean(np.abs(np.diff(periods))[pairs]) / np.mean(periods[voiced])) if pairs.any() else math.nan
        shimmer = float(np.mean(np.abs(np.diff(level_db))[pairs])) if pairs.any() else math.nan
        r = np.clip(periodicity[voiced], 1e-3, 0.999)
        hnr = float(np.mean(10 * np.log10(r / (1 - r))))
        spectrum_db = 10 * np.log10(power[:, voiced].mean(axis=1) + 1e-12)
    else:
        pitch = (math.nan,) * 6
        jitter = shimmer = hnr = math.nan
        spectrum_db = 10 * np.log10(power[:, speech].mean(axis=1) + 1e-12)
    freqs_khz = librosa.fft_frequencies(sr=SAMPLE_RATE_HZ, n_fft=N_FFT) / 1000
    low = (freqs_khz > 0.05) & (freqs_khz <= 4.0)
    tilt = float(np.polyfit(freqs_khz[low], spectrum_db[low], 1)[0])

    # syllable nuclei: peaks of the 50 ms-smoothed level contour that are voiced (within 20 ms) and loud enough
    smooth_db = np.convolve(level_db, np.ones(5) / 5, mode="same")
    peaks, _ = find_peaks(
        smooth_db, prominence=NUCLEUS_PROMINENCE_DB, distance=int(NUCLEUS_MIN_GAP_S * SAMPLE_RATE_HZ / HOP_LENGTH)
    )
    voiced_near = np.convolve(voiced.astype(float), np.ones(5), mode="same") > 0
    nuclei = [p for p in peaks if speech[p] and voiced_near[p]]
    speech_rate = len(nuclei) / span_s if span_s > 0 else 0.0

    magnitude = np.sqrt(power[:, speech])
    centroid = librosa.feature.spectral_centroid(S=magnitude, sr=SAMPLE_RATE_HZ)
    flatness = librosa.feature.spectral_flatness(S=magnitude)

    speech_db = level_db[speech]
    features = {
        "duration_s": duration_s,
        "pitch_hz_mean": pitch[0],
        "pitch_hz_sd": pitch[1],
        "pitch_hz_range": pitch[2],
        "pitch_st_sd": pitch[3],
        "pitch_st_range": pitch[4],
        "pitch_slope_st_per_s": pitch[5],
        "energy_db_mean": float(np.mean(speech_db)),
        "energy_db_sd": float(np.std(speech_db)),
        "energy_db_range": float(np.percentile(speech_db, 95) - np.percentile(speech_db, 5)),
        "speech_rate_sps": float(speech_rate),
        "pause_ratio": float(pause_ratio),
        "voiced_ratio": voiced_ratio,
        "jitter_rel": jitter,
        "shimmer_db": shimmer,
        "hnr_db": hnr,
        "spectral_tilt_db_per_khz": tilt,
        "spectral_centroid_hz": float(np.mean(centroid)),
        "spectral_flatness": float(np.mean(flatness)),
    }
    # a clip is measured well with >= 1 s of speech of which >= 25 % is voiced
    quality = min(1.0, span_s / 1.0) * min(1.0, voiced_ratio / 0.25)
    reason = "" if quality > 0 else "no voiced speech found"
    return Measurement(features, float(quality), reason)


@dataclass
class SpeakerBaseline:
    """Running mean and variance of each feature for one speaker within a session (Welford's algorithm).

    z-scores compare an utterance with the utterances before it; with fewer than MIN_UTTERANCES earlier
    utterances every z-score is 0 (there is no baseline yet). Features that could not be measured count as 0.
    """

    MIN_UTTERANCES = 2
    Z_LIMIT = 5.0
    utterances: int = 0
    count: dict[str, int] = field(default_factory=dict)
    mean: dict[str, float] = field(default_factory=dict)
    m2: dict[str, float] = field(default_factory=dict)

    def update(self, features: dict[str, float]) -> None:
        self.utterances += 1
        for name, value in features.items():
            if not math.isfinite(value):
                continue
            n = self.count.get(name, 0) + 1
            mean = self.mean.get(name, 0.0)
            delta = value - mean
            mean += delta / n
            self.m2[name] = self.m2.get(name, 0.0) + delta * (value - mean)
            self.mean[name], self.count[name] = mean, n

    def sd(self, name: str) -> float:
        n = self.count.get(name, 0)
        return math.sqrt(self.m2[name] / (n - 1)) if n >= 2 else math.nan

    def z_scores(self, features: dict[str, float]) -> dict[str, float]:
        z = {}
        for name, value in features.items():
            n, sd = self.count.get(name, 0), self.sd(name)
            if n < self.MIN_UTTERANCES or not math.isfinite(value) or not sd > 0:
                z[name] = 0.0
                continue
            # a floor on the sd keeps two near-identical utterances from turning a small change into a huge z
            sd = max(sd, 0.05 * abs(self.mean[name]), 1e-6)
            z[name] = float(np.clip((value - self.mean[name]) / sd, -self.Z_LIMIT, self.Z_LIMIT))
        return z


@dataclass(frozen=True)
class LinearHead:
    """Standardiser + multinomial logistic regression over labels, and ridge regressions for valence and arousal,
    all as plain arrays."""

    center: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (labels, inputs)
    intercept: np.ndarray
    va_coef: np.ndarray  # (2, inputs): valence, arousal
    va_intercept: np.ndarray

    def predict(self, x: np.ndarray, labels: tuple[str, ...]) -> tuple[dict[str, float], float, float]:
        z = (np.asarray(x, dtype=np.float64) - self.center) / self.scale
        z = np.where(np.isfinite(z), z, 0.0)  # what could not be measured reads as the training average
        logits = self.coef @ z + self.intercept
        p = np.exp(logits - logits.max())
        probs = normalise_probs(dict(zip(labels, (p / p.sum()).tolist())))
        valence, arousal = np.clip(self.va_coef @ z + self.va_intercept, -1.0, 1.0)
        return probs, float(valence), float(arousal)


HEAD_FIELDS = ("center", "scale", "coef", "intercept", "va_coef", "va_intercept")


@dataclass(frozen=True)
class ProsodyModel:
    """Heads trained by training.train_prosody: `raw` reads the features as measured (any utterance);
    `session` reads their z-scores against the speaker's baseline and is used once the baseline holds at least
    `session_min_utterances` earlier utterances (it removes the speaker's own voice: pitch, loudness, microphone);
    `encoder`, when present, reads the features together with the Whisper encoder's pooled states of the utterance
    (perception.voice_embedding) and is used whenever those states are given: it scores best held out."""

    input_names: tuple[str, ...]
    labels: tuple[str, ...]
    raw: LinearHead
    session: LinearHead
    session_min_utterances: int
    encoder: LinearHead | None = None

    def predict(self, features: dict[str, float], baseline: SpeakerBaseline | None = None,
                encoder_states: np.ndarray | None = None):
        """(probs, valence, arousal, which head) for one utterance; z-scores come from `baseline` as it stands;
        `encoder_states` are the utterance's pooled Whisper encoder states (voice_embedding.pooled_states)."""
        if self.encoder is not None and encoder_states is not None:
            if len(encoder_states) + len(self.input_names) != len(self.encoder.center):
                raise ValueError(f"encoder states of width {len(encoder_states)} do not fit the voice head "
                                 f"({len(self.encoder.center) - len(self.input_names)})")
            x = np.concatenate([[features[n] for n in self.input_names], np.asarray(encoder_states, np.float64)])
            return (*self.encoder.predict(x, self.labels), "encoder")
        if baseline is not None and baseline.utterances >= self.session_min_utterances:
            z = baseline.z_scores(features)
            return (*self.session.predict(np.array([z[n] for n in self.input_names]), self.labels), "session")
        return (*self.raw.predict(np.array([features[n] for n in self.input_names]), self.labels), "raw")


@lru_cache(maxsize=4)
def load_model(path: Path = MODEL_PATH) -> ProsodyModel:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            model = ProsodyModel(
                input_names=tuple(str(s) for s in data["input_names"]),
                labels=tuple(str(s) for s in data["labels"]),
                raw=LinearHead(*(data[f"raw_{f}"] for f in HEAD_FIELDS)),
                session=LinearHead(*(data[f"session_{f}"] for f in HEAD_FIELDS)),
                session_min_utterances=int(data["session_min_utterances"]),
                encoder=LinearHead(*(data[f"encoder_{f}"] for f in HEAD_FIELDS)) if "encoder_coef" in data else None,
            )
    except FileNotFoundError:
        raise ModelUnavailableError(f"{path}: prosody model missing; run `python -m training.train_prosody`") from None
    except (OSError, KeyError, ValueError) as err:
        raise ModelUnavailableError(f"{path}: prosody model unreadable ({err})") from None
    if model.input_names != MODEL_INPUT_NAMES or set(model.labels) != set(LABELS):
        raise ModelUnavailableError(f"{path}: prosody model was trained on other features; retrain it")
    return model


def extract_prosody(
    audio,
    sample_rate_hz: int = SAMPLE_RATE_HZ,
    t_start_s: float = 0.0,
    t_end_s: float | None = None,
    baseline: SpeakerBaseline | None = None,
    model_path: Path = MODEL_PATH,
    encoder_states: np.ndarray | None = None,
) -> ProsodyCues:
    """Prosody cues of one utterance.

    `audio` holds the utterance's samples only (cut it out first); `t_start_s`/`t_end_s` place it on the session
    clock for the cue (t_end_s defaults to t_start_s + its duration). With a `baseline`, z-scores compare the
    utterance with the speaker's earlier ones, then the baseline takes it in (only when it was measured); once it
    holds enough utterances the model reads the z-scores instead of the raw features (see ProsodyModel).
    `encoder_states`: the utterance's pooled Whisper encoder states from the speech-to-text pass
    (perception.voice_embedding); with them the model's encoder head reads the voice.
    """
    mono = _as_mono(audio, sample_rate_hz)
    duration_s = len(mono) / sample_rate_hz
    if duration_s > MAX_DURATION_S:  # not one utterance; measuring it whole would take minutes and gigabytes
        m = _empty_measurement(duration_s, f"too long for one utterance ({duration_s:.0f} s > {MAX_DURATION_S:.0f} s): "
                                           "split it into utterances first (VAD)")
    else:
        m = measure(_resample_16k(mono, int(sample_rate_hz)))
    end_s = t_end_s if t_end_s is not None else t_start_s + duration_s
    z_scores = baseline.z_scores(m.features) if baseline is not None else {n: 0.0 for n in m.features}
    if m.quality <= 0:
        return ProsodyCues(t_start_s, end_s, 0.0, m.features, z_scores, uniform_probs(), 0.0, 0.0, reason=m.reason)
    probs, valence, arousal, _ = load_model(Path(model_path)).predict(m.features, baseline, encoder_states)
    if baseline is not None:
        baseline.update(m.features)
    # the model's own certainty (1 - normalised entropy) scaled by how well the clip could be measured
    entropy = -sum(p * math.log(p) for p in probs.values() if p > 0)
    confidence = m.quality * max(0.0, 1.0 - entropy / math.log(len(LABELS)))
    return ProsodyCues(t_start_s, end_s, confidence, m.features, z_scores, probs, valence, arousal)
