"""Small helpers shared by the tests that talk to a running app (gradio_client, the browser, the load test)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port nothing listens on now, on 127.0.0.1 (the only address tests may serve on)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chat_texts(chat: list[dict]) -> list[tuple[str, str]]:
    """(role, text) of each message as the client receives it (content may be a list of parts)."""
    out = []
    for message in chat:
        content = message["content"]
        if isinstance(content, list):
            content = " ".join(part.get("text", "") for part in content if isinstance(part, dict))
        out.append((message["role"], content))
    return out
