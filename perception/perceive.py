"""One file in, every cue out: the one path from a media file to cues, in the two shapes it is needed in.

Over time (`perceive_file`, what `empathic perceive` prints): a file's sound as utterances by voice activity, each
with its transcript and word times, the emotion in its words, and how it was said (prosody z-scored against the
speaker's earlier utterances in the file, and the Whisper encoder's states of it as the live session reads them);
images and video frames: the face (perception.face). A video with sound gets both, on one clock.

One reading per whole clip (`read_clip_voice`, `read_clip_face`, and perception.asr.transcribe_file with
`transcript_text` for the words: what the ablation reads each sample with): its voice as one utterance with no
speaker baseline, its face (a video's timeline pooled into one reading; a small image read as a face crop).

Both shapes read the voice with `read_voice` (prosody beside the encoder states `speech_states` gets from the ASR
engine: the states the live session's speech-to-text pass leaves for its voice reader). Perception stops at cues:
combining them into one state is fusion's job (ui.perceive_command adds it).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from basics.audio import SAMPLE_RATE_HZ
from basics.errors import MediaError
from perception.audio import iter_audio_windows
from perception.cues import FaceCues, ProsodyCues, TextEmotion, Transcript, as_json

if TYPE_CHECKING:
    from perception.asr import AsrEngine
    from perception.face import FaceAnalyzer
    from perception.prosody import SpeakerBaseline

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}
FACE_FPS = 5.0  # video frames read per second
FACE_CROP_MAX_SIDE_PX = 96  # images no larger than this on either side are read as face crops


def media_streams(path: str | os.PathLike) -> tuple[bool, bool]:
    """(has_audio, has_video) as the container declares them; MediaError when it is not media at all."""
    import av

    label = str(path)
    if not Path(path).is_file():
        raise MediaError(f"{label}: no such file")
    if Path(path).stat().st_size == 0:
        raise MediaError(f"{label}: empty (0 bytes)")
    try:
        with av.open(str(path)) as container:
            has_audio = any(s.type == "audio" for s in container.streams)
            # a still image inside a music file (cover art) is not a video for us
            has_video = any(s.type == "video" and (s.frames or 0) != 1 for s in container.streams)
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as err:
        raise MediaError(f"{label}: not a readable audio, video or image file ({type(err).__name__})") from None
    return has_audio, has_video


def utterance_audio(path: str | os.PathLike, transcripts: Iterable[Transcript]) -> Iterator[np.ndarray]:
    """The samples of each transcript's span, in order, from a second streaming pass over the file (memory stays
    at about one window plus one utterance, however long the file)."""
    windows = iter_audio_windows(path)
    buffer = np.zeros(0, dtype=np.float32)
    buffer_start_s = 0.0
    for transcript in transcripts:
        start = int(round((transcript.t_start_s - buffer_start_s) * SAMPLE_RATE_HZ))
        end = int(round((transcript.t_end_s - buffer_start_s) * SAMPLE_RATE_HZ))
        while len(buffer) < end:
            window = next(windows, None)
            if window is None:
                break
            buffer = np.concatenate([buffer, window.samples])
        yield buffer[max(0, start):max(0, end)]
        # drop what no later utterance can need (transcripts come in time order)
        keep_from = max(0, min(end, len(buffer)))
        buffer = buffer[keep_from:]
        buffer_start_s += keep_from / SAMPLE_RATE_HZ


# ------------------------------------------------------------------ the pieces both shapes (and live) share


def transcript_text(transcripts: Iterable[Transcript]) -> str:
    """The words of a file's utterances as one text."""
    return " ".join(t.text for t in transcripts).strip()


def speech_states(engine: AsrEngine, audio: np.ndarray) -> np.ndarray | None:
    """The Whisper encoder's pooled states of this audio as the engine's speech-to-text pass leaves them (live reads
    them back after `transcribe`; here, with no pass of its own to reuse, `encode_voice` encodes the same speech).
    None from an engine without an encoder to read (openai-whisper) or when there is no speech."""
    encode_voice = getattr(engine, "encode_voice", None)
    return encode_voice(audio, SAMPLE_RATE_HZ) if encode_voice is not None else None


def read_voice(audio: np.ndarray, engine: AsrEngine, t_start_s: float = 0.0, t_end_s: float | None = None,
               baseline: SpeakerBaseline | None = None) -> ProsodyCues:
    """How one utterance was said: its prosody (against the speaker's baseline when given) beside the encoder's
    states of it, which the voice model's encoder head reads as it does live."""
    from perception.prosody import extract_prosody

    return extract_prosody(audio, SAMPLE_RATE_HZ, t_start_s, t_end_s, baseline,
                           encoder_states=speech_states(engine, audio))


# ------------------------------------------------------------------------- one reading per whole clip


def read_clip_voice(path: str | os.PathLike, engine: AsrEngine) -> ProsodyCues:
    """The voice of the whole clip as one utterance, as live with speech-to-text on: the prosodic features and the
    encoder's pooled states of its speech (the clip stands alone: no speaker baseline)."""
    from perception.audio import load_audio

    return read_voice(load_audio(path), engine)


def read_clip_face(path: str | os.PathLike, is_image: bool, image_analyzer: FaceAnalyzer | None = None,
                   fps: float = FACE_FPS) -> FaceCues:
    """The face in an image, or a video's face timeline pooled into one reading (perception.face.pool_timeline).
    `image_analyzer`: a FaceAnalyzer in mode "image" to reuse across images (one is made and closed when None)."""
    from perception.face import FaceAnalyzer, pool_timeline

    if is_image:
        from perception.images import load_image

        rgb = load_image(Path(path))
        # A picture this small is a face crop (FER2013 is 48x48): perception then lets the CNN read the whole crop
        # when the landmarker finds no face in it, as it does for crops elsewhere, instead of reading "no face".
        crop = max(rgb.shape[:2]) <= FACE_CROP_MAX_SIDE_PX
        if image_analyzer is not None:
            return image_analyzer.analyze(rgb, is_face_crop=crop)
        with FaceAnalyzer("image") as analyzer:
            return analyzer.analyze(rgb, is_face_crop=crop)
    with FaceAnalyzer("video") as analyzer:
        return pool_timeline(analyzer.analyze_video(Path(path), fps))


# ---------------------------------------------------------------------------------- over time

# (words, voice) -> extra fields for the utterance; the UI passes fusion here, so perception never imports it.
UtteranceHook = Callable[[TextEmotion, ProsodyCues], dict]


def perceive_audio(path: str | os.PathLike, asr_engine: str = "faster-whisper", asr_model: str | None = None,
                   text_model: str = "default", on_utterance: UtteranceHook | None = None) -> dict:
    from perception.asr import make_asr, transcribe_file
    from perception.prosody import SpeakerBaseline
    from perception.text_emotion import make_text_emotion

    engine = make_asr(asr_engine, asr_model)
    transcripts = transcribe_file(path, engine)
    text_emotion = make_text_emotion(text_model)
    baseline = SpeakerBaseline()
    utterances = []
    for transcript, samples in zip(transcripts, utterance_audio(path, transcripts)):
        words = text_emotion.predict(transcript.text, transcript.t_start_s, transcript.t_end_s)
        voice = read_voice(samples, engine, transcript.t_start_s, transcript.t_end_s, baseline)
        utterances.append({
            "t_start_s": transcript.t_start_s,
            "t_end_s": transcript.t_end_s,
            "transcript": as_json(transcript),
            "text_emotion": as_json(words),
            "prosody": as_json(voice),
            **(on_utterance(words, voice) if on_utterance else {}),
        })
    return {
        "asr": {"engine": engine.name, "model": engine.model},
        "text_emotion_model": text_emotion.name if hasattr(text_emotion, "name") else text_model,
        "text": transcript_text(transcripts),
        "utterances": utterances,
    }


def perceive_file(path: str | os.PathLike, fps: float = FACE_FPS, asr_engine: str = "faster-whisper",
                  asr_model: str | None = None, text_model: str = "default",
                  on_utterance: UtteranceHook | None = None) -> dict:
    """The JSON-ready document of `empathic perceive`."""
    path = Path(path)
    result: dict = {"file": str(path)}
    if path.suffix.lower() in IMAGE_SUFFIXES:
        result.update(kind="image", face=as_json(read_clip_face(path, is_image=True)))
        return result
    has_audio, has_video = media_streams(path)
    if not has_audio and not has_video:
        raise MediaError(f"{path}: holds neither an audio nor a video stream")
    result["kind"] = "video" if has_video else "audio"
    if has_video:
        from perception.face import perceive_visual

        face = perceive_visual(path, fps=fps)
        face.pop("kind", None)
        face.pop("path", None)
        result["face"] = face
    if has_audio:
        result.update(perceive_audio(path, asr_engine, asr_model, text_model, on_utterance))
    return result
