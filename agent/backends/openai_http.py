"""Any OpenAI-compatible chat endpoint over HTTP: Ollama, vLLM, llama.cpp's server, OpenAI itself.

Standard library only (http.client): one POST to {base_url}/chat/completions with `stream: true`, read as
server-sent events line by line. Every way it can fail (refused, timed out, HTTP error, malformed or cut-off stream)
becomes one LLMError line; nothing waits longer than the timeouts.
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from agent.backends.base import GenerationParams, LLMError, one_line

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
CONNECT_TIMEOUT_S = 5.0
API_KEY_ENV = "EMPATHIC_LLM_API_KEY"
OPENAI_HOST_SUFFIX = "openai.com"


def is_local(base_url: str) -> bool:
    return (urlsplit(base_url).hostname or "") in LOCAL_HOSTS


class OpenAIHTTPBackend:
    """Chat completions from a server. `remote` is True unless the server is on this machine."""

    name = "openai"
    # OpenAI's own API answers a last assistant message with a new one instead of continuing it: no opener
    continues_reply = False

    def __init__(self, base_url: str, model: str | None = None, api_key: str | None = None,
                 capable: bool = True, connect_timeout_s: float = CONNECT_TIMEOUT_S) -> None:
        parts = urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise LLMError(f"LLM url {base_url!r} is not an http(s) URL like http://127.0.0.1:11434/v1")
        self.base_url = base_url.rstrip("/")
        self._parts = parts
        self.remote = not is_local(base_url)
        self.capable = capable  # server models are usually larger; the caller may say otherwise
        self.connect_timeout_s = connect_timeout_s
        is_openai = parts.hostname.endswith(OPENAI_HOST_SUFFIX)
        # never send an OpenAI key to some other host just because it is in the environment
        self._api_key = api_key or os.environ.get(API_KEY_ENV) or (
            os.environ.get("OPENAI_API_KEY") if is_openai else None)
        # llama.cpp, Ollama and vLLM take repeat_penalty; OpenAI rejects parameters it does not know
        self._sampler_extras = not is_openai
        self.model = model or ""

    # --- HTTP plumbing ---------------------------------------------------------------------------------------
    def _connection(self, timeout_s: float) -> http.client.HTTPConnection:
        port = self._parts.port
        host = self._parts.hostname or "127.0.0.1"  # the URL was validated in __init__; this only satisfies typing
        if self._parts.scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=timeout_s,
                                               context=ssl.create_default_context())
        return http.client.HTTPConnection(host, port, timeout=timeout_s)

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream, application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def _open(self, method: str, path: str, body: dict | None, timeout_s: float):
        """Send a request; return (connection, response) with status < 400, else raise LLMError."""
        url = f"{self.base_url}{path}"
        conn = self._connection(min(self.connect_timeout_s, timeout_s))
        try:
            conn.connect()
            conn.sock.settimeout(timeout_s)  # connect used the short timeout; reads get the full one
            payload = json.dumps(body).encode() if body is not None else None
            conn.request(method, self._parts.path + path, body=payload, headers=self._headers())
            response = conn.getresponse()
        except ConnectionRefusedError:
            conn.close()
            raise LLMError(f"LLM server {self.base_url} refused the connection (is it running?)") from None
        except TimeoutError:
            conn.close()
            raise LLMError(f"LLM server {self.base_url} timed out after {timeout_s:g} s") from None
        except (OSError, http.client.HTTPException) as err:
            conn.close()
            raise LLMError(f"LLM server {self.base_url} unreachable: {one_line(err)}") from None
        if response.status >= 400:
            detail = _error_detail(response)
            conn.close()
            raise LLMError(f"LLM server answered HTTP {response.status} for {url}: {detail}")
        return conn, response

    def _resolve_model(self, timeout_s: float) -> str:
        """The first model the server lists, for servers (llama.cpp, Ollama with one model) where any name is fine."""
        conn, response = self._open("GET", "/models", None, timeout_s)
        try:
            listing = json.loads(response.read())
            self.model = str(listing["data"][0]["id"])
        except (ValueError, KeyError, IndexError, TypeError, OSError):
            raise LLMError(f"LLM server {self.base_url}/models gave no model list; pass a model name") from None
        finally:
            conn.close()
        return self.model

    # --- the interface ---------------------------------------------------------------------------------------
    def request_body(self, messages: list[dict[str, str]], params: GenerationParams) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "seed": params.seed,
            "stream": True,
        }
        if self._sampler_extras:
            body["repeat_penalty"] = params.repeat_penalty
        if params.stop:
            body["stop"] = list(params.stop)
        if params.json_schema is not None:
            body["response_format"] = {"type": "json_schema",
                                       "json_schema": {"name": "answer", "schema": params.json_schema}}
        return body

    def stream(self, messages: list[dict[str, str]], params: GenerationParams) -> Iterator[str]:
        deadline = time.monotonic() + params.timeout_s
        if not self.model:
            self._resolve_model(params.timeout_s)
        conn, response = self._open("POST", "/chat/completions", self.request_body(messages, params),
                                    max(deadline - time.monotonic(), 0.001))
        try:
            kind = response.getheader("Content-Type", "")
            if "text/event-stream" not in kind:
                # some servers ignore `stream` and send one JSON document
                yield _content_of_document(_read_all(response, self.base_url, params.timeout_s))
                return
            yield from _sse_pieces(response, deadline, self.base_url, params.timeout_s)
        finally:
            conn.close()

    def close(self) -> None:
        pass  # one connection per request: nothing held between replies


def _read_all(response: http.client.HTTPResponse, base_url: str, timeout_s: float) -> bytes:
    try:
        return response.read()
    except TimeoutError:
        raise LLMError(f"LLM server {base_url} timed out after {timeout_s:g} s") from None
    except (OSError, http.client.HTTPException) as err:
        raise LLMError(f"LLM server {base_url} dropped the connection mid-reply: {one_line(err)}") from None


def _error_detail(response: http.client.HTTPResponse) -> str:
    try:
        raw = response.read(4096)
    except (OSError, http.client.HTTPException):
        return response.reason or "no detail"
    try:
        data = json.loads(raw)
        error = data.get("error", data) if isinstance(data, dict) else data
        message = error.get("message") if isinstance(error, dict) else error
        return one_line(message or raw.decode(errors="replace"), 200)
    except ValueError:
        return one_line(raw.decode(errors="replace") or response.reason or "no detail", 200)


def _content_of_document(raw: bytes) -> str:
    try:
        data = json.loads(raw)
        return data["choices"][0]["message"]["content"] or ""
    except (ValueError, KeyError, IndexError, TypeError):
        raise LLMError(f"LLM server sent a malformed reply: {one_line(raw[:120].decode(errors='replace'))}") from None


def _sse_pieces(response: http.client.HTTPResponse, deadline: float, base_url: str,
                timeout_s: float) -> Iterator[str]:
    """Content deltas from an SSE body. A proper end is `data: [DONE]` or a chunk with a finish_reason."""
    finished = False
    while True:
        if time.monotonic() > deadline:
            raise LLMError(f"LLM server {base_url} timed out after {timeout_s:g} s (reply too slow)")
        try:
            line = response.readline()
        except TimeoutError:
            raise LLMError(f"LLM server {base_url} timed out after {timeout_s:g} s mid-reply") from None
        except (OSError, http.client.HTTPException) as err:
            raise LLMError(f"LLM server {base_url} dropped the connection mid-reply: {one_line(err)}") from None
        if not line:
            if finished:
                return
            raise LLMError(f"LLM server {base_url} ended the stream early (truncated reply)")
        text = line.decode("utf-8", errors="replace").strip()
        if not text or text.startswith(":") or not text.startswith("data:"):
            continue  # blank separators, comments (keep-alives), event:/id: fields
        data = text[len("data:"):].strip()
        if data == "[DONE]":
            return
        try:
            chunk = json.loads(data)
        except ValueError:
            raise LLMError(f"LLM server {base_url} sent a malformed stream chunk: {one_line(data, 120)}") from None
        if not isinstance(chunk, dict):
            raise LLMError(f"LLM server {base_url} sent a malformed stream chunk: {one_line(data, 120)}")
        if "error" in chunk:
            error = chunk["error"]
            message = error.get("message", error) if isinstance(error, dict) else error
            raise LLMError(f"LLM server {base_url} reported an error mid-stream: {one_line(message, 200)}")
        for choice in chunk.get("choices") or ():
            piece = (choice.get("delta") or {}).get("content")
            if piece:
                yield piece
            if choice.get("finish_reason"):
                finished = True
