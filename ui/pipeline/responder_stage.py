"""The responder's stage: which responder may answer (a remote LLM only with "remote" consent; a local one
otherwise, so words and cues never leave the machine without it), and the reply, streamed, under its lock."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agent.contracts import Reply
from fusion.state import EmotionState
from ui.pipeline.analyzers import Read, call_model
from ui.pipeline.consent import ConsentState
from ui.pipeline.models import ResponderModel, SessionModels


@dataclass(frozen=True)
class Prompt:
    text: str
    state: EmotionState | None
    history: tuple[tuple[str, str], ...]
    responder: ResponderModel | None  # chosen when the turn began (`choose`), so a consent change mid-reply waits
    on_token: Callable[[str], None]
    on_restart: Callable[[], None]  # the reply check rejected what streamed; the next attempt starts afresh


class ResponderStage:
    def __init__(self, models: SessionModels, consent: ConsentState) -> None:
        self._models = models
        self._consent = consent

    def choose(self) -> ResponderModel | None:
        """The responder allowed now."""
        if self._models.backend_remote and not self._consent.allows("remote"):
            return self._models.local_responder  # words and cues may not leave: a local reply
        return self._models.responder

    def process(self, item: Prompt) -> Sequence[Read[Reply]]:
        responder = item.responder
        if responder is None:
            return [Read(None, "responder " + self._models.status.get("responder", "not loaded"))]
        return [call_model(lambda: responder.respond(item.text, state=item.state, history=item.history,
                                                     on_token=item.on_token, on_restart=item.on_restart),
                           failed="reply failed", lock=self._models.locks["responder"])]

    def purge(self, modality: str) -> None:
        """Holds nothing: the conversation is the session's."""

    def close(self) -> None:
        """The models are shared between sessions: SessionModels.close closes them."""
