"""The OpenAI-compatible HTTP backend against a REAL llama.cpp server on 127.0.0.1 (see conftest.py), plus the
faults a real deployment meets: nothing listening, a server that never answers, HTTP 500, a cut-off or malformed
stream (small local servers written here, used for those faults only)."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agent.backends import make_backend
from agent.backends.base import GenerationParams, LLMError, complete
from agent.backends.openai_http import OpenAIHTTPBackend

MESSAGES = [
    {"role": "system", "content": "You are a warm listener. Reply in one or two short sentences."},
    {"role": "user", "content": "I finally got the job I interviewed for last month!"},
]
FAULT_TIMEOUT_S = 1.5


# --- the real server -----------------------------------------------------------------------------------------

@pytest.mark.slow
def test_streams_a_reply_from_a_real_server(llama_server, served_model_name):
    backend = make_backend("openai", model=served_model_name, url=llama_server)
    assert backend.remote is False and backend.name == "openai" and backend.model == served_model_name
    pieces = list(backend.stream(MESSAGES, GenerationParams(max_tokens=30)))
    assert len(pieces) > 3
    assert len("".join(pieces).split()) >= 5


@pytest.mark.slow
def test_the_server_reply_matches_the_embedded_model(llama_server, embedded):
    """Same GGUF, greedy, same sampler settings: the HTTP path must give the in-process text exactly."""
    backend = OpenAIHTTPBackend(llama_server)  # no model named: the first one the server lists
    params = GenerationParams(max_tokens=24, seed=3)
    over_http = complete(backend, MESSAGES, params)
    assert backend.model  # resolved from /v1/models
    assert over_http == complete(embedded, MESSAGES, params)


@pytest.mark.slow
def test_stop_and_json_schema_reach_the_server(llama_server):
    backend = OpenAIHTTPBackend(llama_server)
    schema = {"type": "object", "properties": {"need": {"type": "string", "enum": ["celebration", "reassurance"]}},
              "required": ["need"], "additionalProperties": False}
    data = json.loads(complete(backend, MESSAGES, GenerationParams(max_tokens=30, json_schema=schema)))
    assert data["need"] in {"celebration", "reassurance"}
    full = complete(backend, MESSAGES, GenerationParams(max_tokens=30))
    stop_word = full.split()[1]
    assert stop_word not in complete(backend, MESSAGES, GenerationParams(max_tokens=30, stop=(stop_word,)))


@pytest.mark.slow
def test_a_very_short_timeout_on_the_real_server_is_an_error(llama_server):
    backend = OpenAIHTTPBackend(llama_server)
    started = time.monotonic()
    with pytest.raises(LLMError, match="timed out"):
        complete(backend, MESSAGES, GenerationParams(max_tokens=200, timeout_s=0.05))
    assert time.monotonic() - started < 5


# --- faults --------------------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_nothing_listening_is_a_refused_connection():
    backend = OpenAIHTTPBackend(f"http://127.0.0.1:{_free_port()}/v1", model="m")
    with pytest.raises(LLMError, match="refused") as err:
        complete(backend, MESSAGES, GenerationParams(timeout_s=FAULT_TIMEOUT_S))
    assert "\n" not in str(err.value)


def test_a_server_that_never_answers_times_out():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # the kernel accepts the connection; nobody ever reads or writes
    try:
        backend = OpenAIHTTPBackend(f"http://127.0.0.1:{listener.getsockname()[1]}/v1", model="m")
        started = time.monotonic()
        with pytest.raises(LLMError, match="timed out"):
            complete(backend, MESSAGES, GenerationParams(timeout_s=FAULT_TIMEOUT_S))
        assert time.monotonic() - started < FAULT_TIMEOUT_S + 2
    finally:
        listener.close()


class _FaultHandler(BaseHTTPRequestHandler):
    """Answers /v1/chat/completions with the fault named by the server's `fault` attribute."""

    def log_message(self, *args):  # keep test output clean
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        fault = self.server.fault
        if fault == "http500":
            body = json.dumps({"error": {"code": 500, "message": "model crashed"}}).encode()
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        first = {"choices": [{"index": 0, "delta": {"content": "I am so"}, "finish_reason": None}]}
        self.wfile.write(f"data: {json.dumps(first)}\n\n".encode())
        if fault == "malformed":
            self.wfile.write(b"data: {\"choices\": [{\"delta\": \n\n")
        elif fault == "stall":
            time.sleep(FAULT_TIMEOUT_S * 3)
        # "truncated": the connection closes here, with neither [DONE] nor a finish_reason
        self.wfile.flush()


@pytest.fixture
def fault_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FaultHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("fault, message", [
    ("http500", "HTTP 500.*model crashed"),
    ("truncated", "ended the stream early"),
    ("malformed", "malformed stream chunk"),
    ("stall", "timed out"),
])
def test_server_faults_become_one_line_errors(fault_server, fault, message):
    fault_server.fault = fault
    backend = OpenAIHTTPBackend(f"http://127.0.0.1:{fault_server.server_address[1]}/v1", model="m")
    pieces: list[str] = []
    started = time.monotonic()
    with pytest.raises(LLMError, match=message) as err:
        for piece in backend.stream(MESSAGES, GenerationParams(timeout_s=FAULT_TIMEOUT_S)):
            pieces.append(piece)
    assert "\n" not in str(err.value)
    assert time.monotonic() - started < FAULT_TIMEOUT_S + 2
    if fault != "http500":
        assert pieces == ["I am so"]  # what arrived before the fault was passed on


def test_remote_unless_the_host_is_this_machine():
    for url in ("http://127.0.0.1:8080/v1", "http://localhost:11434/v1", "http://[::1]:8000/v1"):
        assert OpenAIHTTPBackend(url, model="m").remote is False
    for url in ("https://api.openai.com/v1", "http://192.168.1.20:11434/v1", "http://gpu-box:8000/v1"):
        assert OpenAIHTTPBackend(url, model="m").remote is True


def test_bad_urls_and_missing_urls_are_one_line_errors():
    with pytest.raises(LLMError, match="not an http"):
        OpenAIHTTPBackend("ftp://example.org/v1", model="m")
    with pytest.raises(LLMError, match="needs a base url"):
        make_backend("openai", model="m")


def test_api_key_is_sent_but_openai_keys_stay_with_openai(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.delenv("EMPATHIC_LLM_API_KEY", raising=False)
    assert "Authorization" not in OpenAIHTTPBackend("http://10.0.0.5:8000/v1", model="m")._headers()
    assert OpenAIHTTPBackend("https://api.openai.com/v1", model="m")._headers()["Authorization"] == "Bearer sk-secret"
    explicit = make_backend("openai", model="m", url="http://10.0.0.5:8000/v1", api_key="k1")
    assert explicit._headers()["Authorization"] == "Bearer k1"
    assert "repeat_penalty" not in OpenAIHTTPBackend("https://api.openai.com/v1", model="m").request_body(
        MESSAGES, GenerationParams())
