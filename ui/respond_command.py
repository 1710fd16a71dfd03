"""`empathic respond "text"`: one reply, printed as one JSON document (appraisal, reply, backend, model, route)."""

from __future__ import annotations

import argparse

BACKEND_KINDS = ("llamacpp", "transformers", "openai")
COE_CHOICES = ("cbt", "dbt", "person-centred", "reality")
EMOTION_CHOICES = ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")


def add_backend_options(parser: argparse.ArgumentParser) -> None:
    """--backend, --model, --url: every command that writes replies (respond, chat, demo, replay) takes these."""
    parser.add_argument("--backend", choices=BACKEND_KINDS, default="llamacpp",
                        help="LLM backend (default: the embedded SmolLM2-135M through llama.cpp)")
    parser.add_argument("--model", default=None,
                        help="GGUF path, a fetched model by name (qwen2.5-1.5b or qwen2.5-0.5b: run `empathic setup "
                        "--model NAME` first), transformers model name/folder, or served model")
    parser.add_argument("--url", default=None, help="base URL of an OpenAI-compatible server (with --backend openai)")


def add_responder_options(parser: argparse.ArgumentParser) -> None:
    """The options `respond` and `chat` share (argparse only: `empathic --help` must stay instant)."""
    add_backend_options(parser)
    parser.add_argument("--coe", choices=COE_CHOICES, default=None, help="a Chain-of-Empathy variant for the prompt")
    parser.add_argument("--text-emotion", choices=("auto", "model", "lexicon"), default="auto",
                        help="how the emotion is read from text alone (default: perception's model if trained)")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", help="what the person said")
    parser.add_argument("--emotion", choices=EMOTION_CHOICES, default=None,
                        help="take this emotion as given instead of reading it from the text")
    add_responder_options(parser)


def build_responder(args: argparse.Namespace):
    """The Responder the options ask for. A backend that cannot start is not fatal: replies then come from the
    template, and the status says why."""
    from agent.appraisal import load_text_emotion
    from agent.backends import LLMError, make_backend
    from agent.responder import Responder

    notes = []
    try:
        backend = make_backend(args.backend, model=args.model, url=args.url)
    except LLMError as err:
        backend = None
        notes.append(f"LLM backend {args.backend} unavailable ({err}): template replies only")
    text_emotion, note = load_text_emotion(args.text_emotion)
    notes.append(note)
    return Responder(backend, coe=args.coe, text_emotion=text_emotion), notes


def reply_as_json(reply, notes=()) -> dict:
    return {
        "appraisal": {"emotion": reply.appraisal.emotion, "intensity": reply.appraisal.intensity,
                      "cause": reply.appraisal.cause, "cause_turn": reply.appraisal.cause_turn,
                      "cause_speaker": reply.appraisal.cause_speaker, "need": reply.appraisal.need,
                      "safety_flags": list(reply.appraisal.safety_flags), "source": reply.appraisal.source,
                      "safety_level": reply.appraisal.safety_level,
                      "safety_reason": reply.appraisal.safety_reason},
        "reply": reply.text,
        "route": reply.route,
        "backend": reply.backend,
        "model": reply.model,
        "latency_s": round(reply.latency_s, 3),
        "first_token_s": None if reply.first_token_s is None else round(reply.first_token_s, 3),
        "status": list(notes) + list(reply.status),
    }


def run(args: argparse.Namespace) -> int:
    import json

    if not args.text.strip():
        raise ValueError("nothing to respond to: the text is empty")
    responder, notes = build_responder(args)
    reply = responder.respond(args.text, emotion=args.emotion)
    print(json.dumps(reply_as_json(reply, notes), indent=2, ensure_ascii=False))
    return 0
