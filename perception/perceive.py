"""One file in, every cue out: what `empathic perceive` prints.

Audio (or a video's sound track): utterances by voice activity, each with its transcript and word times, the
emotion in its words, and how it was said (prosody z-scored against the speaker's earlier utterances in the file).
Images and video frames: the face (perception.face). A video with sound gets both, on one clock.
Perception stops at cues: combining them into one state is fusion's job (ui.perceive_command adds it).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from basics.audio import SAMPLE_RATE_HZ
from basics.errors import MediaError
from perception.audio import iter_audio_windows
from perception.cues import ProsodyCues, TextEmotion, Transcript, as_json

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}


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


# (words, voice) -> extra fields for the utterance; the UI passes fusion here, so perception never imports it.
UtteranceHook = Callable[[TextEmotion, ProsodyCues], dict]


def perceive_audio(path: str | os.PathLike, asr_engine: str = "faster-whisper", asr_model: str | None = None,
                   text_model: str = "default", on_utterance: UtteranceHook | None = None) -> dict:
    from perception.asr import make_asr, transcribe_file
    from perception.prosody import SpeakerBaseline, extract_prosody
    from perception.text_emotion import make_text_emotion

    engine = make_asr(asr_engine, asr_model)
    transcripts = transcribe_file(path, engine)
    text_emotion = make_text_emotion(text_model)
    baseline = SpeakerBaseline()
    utterances = []
    for transcript, samples in zip(transcripts, utterance_audio(path, transcripts)):
        words = text_emotion.predict(transcript.text, transcript.t_start_s, transcript.t_end_s)
        voice = extract_prosody(samples, SAMPLE_RATE_HZ, transcript.t_start_s, transcript.t_end_s, baseline)
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
        "text": " ".join(t.text for t in transcripts).strip(),
        "utterances": utterances,
    }


def perceive_file(path: str | os.PathLike, fps: float = 5.0, asr_engine: str = "faster-whisper",
                  asr_model: str | None = None, text_model: str = "default",
                  on_utterance: UtteranceHook | None = None) -> dict:
    """The JSON-ready document of `empathic perceive`."""
    path = Path(path)
    result: dict = {"file": str(path)}
    if path.suffix.lower() in IMAGE_SUFFIXES:
        from perception.face import perceive_visual

        face = perceive_visual(path, fps=fps)
        result.update(kind="image", face=face["face"])
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
