"""The responder: safety first, then empathize (appraisal), then generate, check, regenerate once, else template.

    responder = Responder(make_backend())
    reply = responder.respond("I got the job!", state=None, on_token=print)

Streaming: `on_token(piece)` is called with each piece as the backend yields it. When the check rejects an attempt,
`on_restart()` is called before the next attempt streams (a UI clears what it showed); the final text is always
`Reply.text`, which can differ from the streamed pieces (trimmed to whole sentences, or the template). Where the
backend continues a started reply, the first piece of every attempt and of the fallback is the same opener
(agent/openers.py), streamed at once, and `Reply.text` starts with it: a UI may show it without waiting. `stream()` is
the same as an iterator of ("token", piece) / ("restart", "") / ("reply", Reply) events.
"""

from __future__ import annotations

import dataclasses
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import cast

from agent import safety
from agent.appraisal import TextEmotionFn, appraise_by_llm, appraise_with_notes
from agent.backends.base import GenerationParams, LLMBackend, LLMError, one_line
from agent.cause_finder import CauseFinder
from agent.contracts import Appraisal, Reply
from agent.exemplars import ExemplarRetriever
from agent.openers import reaction_opener, without_repeated_reaction
from agent.prompts import STOP_SEQUENCES, build_compact_messages, build_messages, compact_prefix, normalise_coe
from agent.reply_check import problems, sentences, trim_to_sentence
from agent.safety_level import Detector, SafetyAssessment, assess, concern_line
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
PROMPT_STYLES: tuple[str, ...] = ("auto", "retrieved", "compact")
EMBEDDED_SMALL_MODELS = frozenset({"SmolLM2-135M-Instruct", "smollm2-135m"})


def prompt_style_for(backend: LLMBackend | None, style: str = "auto") -> str:
    """"retrieved" (exemplars chosen per turn: what a 135M model needs) or "compact" (a fixed, cacheable prefix and
    the appraisal as a note: for models that follow instructions). auto: retrieved for the embedded 135M only."""
    if style not in PROMPT_STYLES:
        raise ValueError(f"unknown prompt style {style!r}; expected one of {', '.join(PROMPT_STYLES)}")
    if style != "auto":
        return style
    return "retrieved" if backend is None or getattr(backend, "model", "") in EMBEDDED_SMALL_MODELS else "compact"


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
                 embedder: str = "auto", crisis_detector: object = "auto", locale: str | None = None,
                 prompt: str = "auto", timeout_s: float | None = None,
                 cause_finder: CauseFinder | None | str = "auto") -> None:
        """`crisis_detector`: "auto" (the shipped semantic detector, loaded once per process on first use), None
        (keyword rules only), or any object with `score(text)`. `locale` picks the crisis resources
        (agent/data/crisis_resources.json; None: the default, which starts from the local emergency number).
        `cause_finder`: "auto" loads the shipped one (agent/weights/cause_finder.npz) on first use, None means
        the cause comes from the rules alone."""
        self.backend = backend
        self.locale = locale
        self._crisis_detector = crisis_detector
        # None: the generation defaults (30 s); an evaluation that measures words, not speed, may wait longer
        self.attempt_params = tuple(p if timeout_s is None else dataclasses.replace(p, timeout_s=timeout_s)
                                    for p in (FIRST_PARAMS, RETRY_PARAMS))
        self.prompt_style = prompt_style_for(backend, prompt)
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

    def assess_safety(self, text: str) -> SafetyAssessment:
        """The safety level of `text`: rules as the floor, the detector beside them; a detector that cannot load or
        raises leaves the rules to decide and says so in the status."""
        notes: tuple[str, ...] = ()
        detector = self._crisis_detector
        if detector == "auto":
            from agent.crisis_detector import shared_detector

            detector, error = shared_detector()
            if detector is None:
                notes = (f"crisis detector unavailable ({error}): keyword rules only",)
        found = assess(text, cast("Detector | None", detector))  # any object with score(text)
        return dataclasses.replace(found, status=notes + found.status) if notes else found

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

        risk = self.assess_safety(text)
        if risk.level == "crisis":  # before anything else, and without the LLM: a fixed message that points to people
            appraisal, _ = appraise_with_notes(text, state, emotion=emotion, text_emotion=self.text_emotion,
                                               history=history, cause_finder=self.cause_finder)
            appraisal = dataclasses.replace(appraisal, safety_flags=risk.flags, safety_level=risk.level,
                                            safety_reason=risk.reason)
            message = safety.crisis_message(risk.flags, self.locale, third_party=risk.third_party)
            if on_token:
                on_token(message)
            kinds = ", ".join(f for f in risk.flags if f != safety.NEAR_CRISIS_FLAG)
            return Reply(text=message, appraisal=appraisal, route="crisis", backend=backend_name, model=model_name,
                         latency_s=time.perf_counter() - started, first_token_s=time.perf_counter() - started,
                         status=risk.status + (f"crisis ({kinds}; {risk.reason}): fixed message, no generation",))

        appraisal, notes = self.appraise(text, state, emotion, history)
        appraisal = dataclasses.replace(appraisal, safety_flags=risk.flags, safety_level=risk.level,
                                        safety_reason=risk.reason)
        status = list(risk.status) + list(notes)
        # at the concern level one gentle check-in and where help is are added in code: a small model drops them
        check_in = concern_line(risk.third_party, self.locale) if risk.level == "concern" else ""
        if check_in:
            status.append(f"concern ({risk.reason}): check-in and where help is added to the reply")
        first_token_s: float | None = None
        # everything the person said: what the check and the template may refer to without inventing
        said = " ".join([content for role, content in history if role == "user"] + [text])
        opener = ""
        if self.backend is None:
            status.append("no LLM backend: template reply")
        else:
            # EBG: the appraisal's reaction is said first, in code, and the model continues from it (a backend that
            # cannot continue a started reply writes the whole reply itself)
            opener = reaction_opener(appraisal, said, history) \
                if getattr(self.backend, "continues_reply", False) else ""
            if opener:  # on screen before anything slow (priming the cache, retrieval, the model)
                first_token_s = time.perf_counter() - started
                if on_token:
                    on_token(opener)
            if self.prompt_style == "compact" and not history and hasattr(self.backend, "prime"):
                # a conversation starts from the same cached prefix every time: replay repeats byte for byte
                try:
                    self.backend.prime(compact_prefix())
                except LLMError as err:
                    status.append(f"prompt cache not primed ({one_line(err)})")
            for attempt, params in enumerate(self.attempt_params):
                if attempt and on_restart:
                    on_restart()
                if self.prompt_style == "compact":
                    messages = build_compact_messages(text, appraisal, history, self.coe)
                else:
                    exemplars = self.retriever.retrieve(text, appraisal, k=EXEMPLARS_PER_PROMPT,
                                                        skip=attempt * EXEMPLARS_PER_PROMPT)
                    messages = build_messages(text, appraisal, exemplars, history, self.coe)
                pieces: list[str] = []
                if opener:
                    messages.append({"role": "assistant", "content": opener})
                    if attempt and on_token:  # a retry starts again from the same words
                        on_token(opener)
                try:
                    for piece in self.backend.stream(messages, params):
                        if first_token_s is None:
                            first_token_s = time.perf_counter() - started
                        if opener and not pieces and piece[:1].isalnum():
                            piece = " " + piece  # the continuation's first piece may come without its space
                        pieces.append(piece)
                        if on_token:
                            on_token(piece)
                except LLMError as err:
                    status.append(f"LLM failed ({one_line(err)}): template reply")
                    break
                continuation = "".join(pieces)
                if opener:
                    continuation = f"{opener} {without_repeated_reaction(opener, continuation)}"
                reply_text = tidy_reply(continuation)
                found = problems(reply_text, appraisal, said)
                if not found:
                    if check_in:
                        reply_text = f"{reply_text} {check_in}"
                        if on_token:
                            on_token(" " + check_in)
                    return Reply(text=reply_text, appraisal=appraisal, route="generated", backend=backend_name,
                                 model=model_name, latency_s=time.perf_counter() - started,
                                 first_token_s=first_token_s, status=tuple(status))
                status.append(f"attempt {attempt + 1} failed the check: {'; '.join(found)}")
            if on_restart:
                on_restart()
        # after an opener the template keeps it: what the person has seen stays (no word taken back)
        fallback = template_reply(appraisal, said, opener)
        if check_in:
            fallback = f"{fallback} {check_in}"
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
