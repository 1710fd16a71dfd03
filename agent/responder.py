"""The responder: safety first, then empathize (appraisal), then generate, check, regenerate once, else template.

    responder = Responder(make_backend())
    reply = responder.respond("I got the job!", state=None, on_token=print)

Streaming: `on_token(piece)` is called with each piece as the backend yields it. When the check rejects an attempt,
`on_restart()` is called before the next attempt streams (a UI clears what it showed); the final text is always
`Reply.text`, which can differ from the streamed pieces (trimmed to whole sentences, or the template). `stream()` is
the same as an iterator of ("token", piece) / ("restart", "") / ("reply", Reply) events.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from typing import Callable, Iterator, Sequence

from agent import safety
from agent.appraisal import TextEmotionFn, appraise_by_llm, appraise_with_notes
from agent.backends.base import GenerationParams, LLMBackend, LLMError, one_line
from agent.cause_finder import CauseFinder
from agent.contracts import Appraisal, Reply
from agent.exemplars import ExemplarRetriever
from agent.prompts import STOP_SEQUENCES, build_messages, normalise_coe
from agent.reply_check import problems, sentences, trim_to_sentence
from agent.templates import template_reply
from fusion.state import EmotionState

EXEMPLARS_PER_PROMPT = 3
MAX_REPLY_TOKENS = 56  # ~40 words: room for two sentences; SmolLM2 rambles past that
MAX_REPLY_SENTENCES = 2
# First attempt greedy (replay is deterministic); the retry samples a little and sees the next exemplars.
FIRST_PARAMS = GenerationParams(max_tokens=MAX_REPLY_TOKENS, temperature=0.0, repeat_penalty=1.15, seed=0,
                                stop=STOP_SEQUENCES)
RETRY_PARAMS = GenerationParams(max_tokens=MAX_REPLY_TOKENS, temperature=0.7, top_p=0.9, repeat_penalty=1.2,
                                seed=7, stop=STOP_SEQUENCES)

History = Sequence[tuple[str, str]]


def tidy_reply(raw: str) -> str:
    """Whole sentences only, at most MAX_REPLY_SENTENCES (a third is kept when it is the question that invites
    the person to go on), with stray speaker labels removed and a capital first letter."""
    text = re.sub(r"^\s*(assistant|listener|bot)\s*:\s*", "", raw.strip(), flags=re.I)
    text = trim_to_sentence(text)
    said = sentences(text)
    if len(said) > MAX_REPLY_SENTENCES:
        keep = said[:MAX_REPLY_SENTENCES]
        if not any(s.endswith("?") for s in keep) and said[MAX_REPLY_SENTENCES].endswith("?"):
            keep.append(said[MAX_REPLY_SENTENCES])
        text = " ".join(keep)
    # lower-case history (ED contexts, quick typing) makes the model start lower-case too
    return text[:1].upper() + text[1:]


class Responder:
    """One conversation partner. `backend` None means template replies only (route "fallback")."""

    def __init__(self, backend: LLMBackend | None, *, retriever: ExemplarRetriever | None = None,
                 coe: str | None = None, text_emotion: TextEmotionFn | None = None,
                 embedder: str = "auto", cause_finder: CauseFinder | None | str = "auto") -> None:
        """`cause_finder`: "auto" loads the shipped one (agent/weights/cause_finder.npz) on first use, None means
        the cause comes from the rules alone."""
        self.backend = backend
        self.coe = normalise_coe(coe)
        self.text_emotion = text_emotion
        self._retriever = retriever
        self._embedder = embedder
        self._cause_finder = cause_finder
        self._cause_finder_note = ""

    @property
    def cause_finder(self) -> CauseFinder | None:
        if self._cause_finder == "auto":  # lazy and once: a missing or broken file is said in every reply's status
            try:
                self._cause_finder = CauseFinder.load()
            except (OSError, ValueError) as err:
                self._cause_finder = None
                self._cause_finder_note = f"cause finder unavailable ({one_line(err)}): the cause is from the rules"
        return self._cause_finder if isinstance(self._cause_finder, CauseFinder) else None

    @property
    def retriever(self) -> ExemplarRetriever:
        if self._retriever is None:  # lazy: the embedding model loads only when a reply is generated
            self._retriever = ExemplarRetriever(embedder=self._embedder)
        return self._retriever

    def appraise(self, text: str, state: EmotionState | None = None, emotion: str | None = None,
                 history: History = ()) -> tuple[Appraisal, tuple[str, ...]]:
        """EBG stage 1: by the LLM when the backend is capable, else by code; always validated."""
        finder = self.cause_finder
        loading = (self._cause_finder_note,) if self._cause_finder_note else ()
        if self.backend is not None and getattr(self.backend, "capable", False):
            appraisal, notes = appraise_by_llm(self.backend, text, state, emotion=emotion,
                                               text_emotion=self.text_emotion, history=history, cause_finder=finder)
        else:
            appraisal, notes = appraise_with_notes(text, state, emotion=emotion, text_emotion=self.text_emotion,
                                                   history=history, cause_finder=finder)
        return appraisal, loading + notes

    def respond(self, text: str, state: EmotionState | None = None, history: History = (),
                on_token: Callable[[str], None] | None = None, on_restart: Callable[[], None] | None = None,
                emotion: str | None = None) -> Reply:
        started = time.perf_counter()
        backend_name = getattr(self.backend, "name", "none")
        model_name = getattr(self.backend, "model", "none")
        if not text or not text.strip():
            raise ValueError("nothing to respond to: the text is empty")

        check = safety.check(text)
        if check.crisis:  # before anything else, and without the LLM: a fixed message that points to people
            appraisal, _ = appraise_with_notes(text, state, emotion=emotion, text_emotion=self.text_emotion,
                                               history=history, cause_finder=self.cause_finder)
            message = safety.crisis_message(check.flags)
            if on_token:
                on_token(message)
            return Reply(text=message, appraisal=appraisal, route="crisis", backend=backend_name, model=model_name,
                         latency_s=time.perf_counter() - started, first_token_s=time.perf_counter() - started,
                         status=(f"crisis language ({', '.join(f for f in check.flags if f != 'near_crisis')}): "
                                 "fixed message, no generation",))

        appraisal, notes = self.appraise(text, state, emotion, history)
        status = list(notes)
        first_token_s: float | None = None
        if self.backend is None:
            status.append("no LLM backend: template reply")
        else:
            for attempt, params in enumerate((FIRST_PARAMS, RETRY_PARAMS)):
                if attempt and on_restart:
                    on_restart()
                exemplars = self.retriever.retrieve(text, appraisal, k=EXEMPLARS_PER_PROMPT,
                                                    skip=attempt * EXEMPLARS_PER_PROMPT)
                messages = build_messages(text, appraisal, exemplars, history, self.coe)
                pieces: list[str] = []
                try:
                    for piece in self.backend.stream(messages, params):
                        if first_token_s is None:
                            first_token_s = time.perf_counter() - started
                        pieces.append(piece)
                        if on_token:
                            on_token(piece)
                except LLMError as err:
                    status.append(f"LLM failed ({one_line(err)}): template reply")
                    break
                reply_text = tidy_reply("".join(pieces))
                said = " ".join([content for role, content in history if role == "user"] + [text])
                found = problems(reply_text, appraisal, said)
                if not found:
                    return Reply(text=reply_text, appraisal=appraisal, route="generated", backend=backend_name,
                                 model=model_name, latency_s=time.perf_counter() - started,
                                 first_token_s=first_token_s, status=tuple(status))
                status.append(f"attempt {attempt + 1} failed the check: {'; '.join(found)}")
            if on_restart:
                on_restart()
        fallback = template_reply(appraisal)
        if on_token:
            on_token(fallback)
        return Reply(text=fallback, appraisal=appraisal, route="fallback", backend=backend_name, model=model_name,
                     latency_s=time.perf_counter() - started, first_token_s=first_token_s, status=tuple(status))

    def stream(self, text: str, state: EmotionState | None = None, history: History = (),
               emotion: str | None = None) -> Iterator[tuple[str, object]]:
        """Events as they happen: ("token", piece), ("restart", ""), and last ("reply", Reply).
        Errors are raised from the iterator, as `respond` would raise them."""
        events: queue.Queue = queue.Queue()
        done = object()

        def work() -> None:
            try:
                reply = self.respond(text, state, history, on_token=lambda p: events.put(("token", p)),
                                     on_restart=lambda: events.put(("restart", "")), emotion=emotion)
                events.put(("reply", reply))
            except BaseException as err:  # handed to the consumer's thread
                events.put(("error", err))
            finally:
                events.put(done)

        threading.Thread(target=work, name="responder-stream", daemon=True).start()
        while (event := events.get()) is not done:
            if event[0] == "error":
                raise event[1]
            yield event
