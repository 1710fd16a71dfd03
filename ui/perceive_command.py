"""`empathic perceive FILE`: every cue in an audio, image or video file, as one JSON document on stdout."""

from __future__ import annotations

import argparse
import json
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="wav, mp3, flac, ogg, webm, mp4, mov, mkv, avi, png, jpg or webp")
    parser.add_argument("--fps", type=float, default=5.0, help="video frames analysed per second (default 5)")
    parser.add_argument("--asr", default="faster-whisper", choices=("faster-whisper", "openai-whisper"),
                        help="speech-to-text engine")
    parser.add_argument("--asr-model", default=None,
                        help="faster-whisper: a CTranslate2 folder; openai-whisper: tiny/base/... or a .pt file")
    parser.add_argument("--text-model", default="default",
                        help="'default' (the project's head on MiniLM) or hf:<name or path> of a text classifier")
    parser.add_argument("--indent", type=int, default=2)


def run(args: argparse.Namespace) -> int:
    from perception.perceive import perceive_file

    if args.fps <= 0:
        raise ValueError(f"--fps must be positive, got {args.fps}")
    document = perceive_file(args.file, fps=args.fps, asr_engine=args.asr, asr_model=args.asr_model,
                             text_model=args.text_model, on_utterance=fused_utterance)
    json.dump(document, sys.stdout, indent=args.indent or None, allow_nan=False)
    sys.stdout.write("\n")
    return 0


def fused_utterance(words, voice) -> dict:
    """The utterance's state from its words and voice together: the same fusion as live, so the numbers here are
    the ones the demo would show."""
    from fusion.fuse import fuse, view_from_cue

    state = fuse([view_from_cue(words), view_from_cue(voice)], enabled=("text", "voice"), t_s=words.t_end_s)
    return {"probs": state.probs,
            "state": {"label": state.label, "valence": state.valence, "arousal": state.arousal,
                      "confidence": state.confidence, "why": state.why, "incongruent": state.incongruent}}
