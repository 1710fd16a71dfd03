"""The responder under LLM faults, against a REAL local server: a small OpenAI-compatible fake (stdlib http.server,
in its own process on 127.0.0.1) that can answer well, slowly, with HTTP 500, cut the stream short, send malformed
JSON, stall, or be SIGKILLed mid-stream; plus nothing listening, and a GGUF file that is missing, corrupt or cut.

Whatever fails, the person gets a reply (the template built from the appraisal, route "fallback"), and the reply's
status says in one line what failed.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import agent.responder as responder_module
from agent.backends.openai_http import OpenAIHTTPBackend
from agent.responder import Responder

FAULT_TIMEOUT_S = 2.0
GOOD_REPLY = ["That ", "sounds ", "really ", "hard. ", "What ", "happened ", "with ", "the ", "exam?"]
TEXT = "I failed my exam today and I feel awful."

FAKE_SERVER = r'''
import json, os, signal, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PIECES = json.loads(sys.argv[1])

def chunk(piece, finish=None):
    return {"id": "x", "object": "chat.completion.chunk", "model": "fake",
            "choices": [{"index": 0, "delta": {"content": piece} if piece else {}, "finish_reason": finish}]}

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        body = json.dumps({"object": "list", "data": [{"id": "fake"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_event(self, data):
        self.wfile.write(b"data: " + (data if isinstance(data, bytes) else json.dumps(data).encode()) + b"\n\n")
        self.wfile.flush()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        mode = self.path.strip("/").split("/")[0]
        if mode == "http500":
            body = json.dumps({"error": {"code": 500, "message": "the model crashed"}}).encode()
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if mode == "document_malformed":  # a server that ignores `stream` and sends one (broken) document
            body = b'{"choices": [{"message": {"content": "That sounds'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for i, piece in enumerate(PIECES):
            if i == 2:
                if mode == "truncated":
                    return  # connection closes: neither [DONE] nor a finish_reason
                if mode == "malformed":
                    self.send_event(b'{"choices": [{"delta": {"content": ')
                    return
                if mode == "stall":
                    time.sleep(60)
                if mode == "killed":
                    os.kill(os.getpid(), signal.SIGKILL)  # the whole server dies mid-reply
            if mode == "slow":
                time.sleep(0.15)
            self.send_event(chunk(piece))
        self.send_event(chunk("", "stop"))
        self.send_event(b"[DONE]")

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
'''


class FakeServer:
    """The fake in a child process; `url(mode)` is a base URL whose first path part picks the fault."""

    def __init__(self) -> None:
        import json

        self.proc = subprocess.Popen([sys.executable, "-c", FAKE_SERVER, json.dumps(GOOD_REPLY)],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.strip():
            raise RuntimeError(f"fake server did not start (exit {self.proc.poll()})")
        self.port = int(line)

    def url(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.port}/{mode}/v1"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()


@pytest.fixture
def server():
    fake = FakeServer()
    yield fake
    fake.stop()


@pytest.fixture(autouse=True)
def short_timeouts(monkeypatch):
    """The responder's generation timeout (30 s in use) shortened so a stalled server fails the test quickly."""
    for name in ("FIRST_PARAMS", "RETRY_PARAMS"):
        monkeypatch.setattr(responder_module, name,
                            dataclasses.replace(getattr(responder_module, name), timeout_s=FAULT_TIMEOUT_S))


def respond(url: str, capable: bool = False):
    backend = OpenAIHTTPBackend(url, model="fake", capable=capable, connect_timeout_s=FAULT_TIMEOUT_S)
    responder = Responder(backend, embedder="tfidf")
    streamed: list[str] = []
    started = time.monotonic()
    reply = responder.respond(TEXT, on_token=streamed.append, on_restart=streamed.clear)
    return reply, "".join(streamed), time.monotonic() - started


def assert_fallback(reply, streamed: str, failed: str) -> None:
    assert reply.route == "fallback"
    assert reply.text.strip() and streamed.endswith(reply.text)  # the person saw the whole fallback reply
    assert reply.appraisal.emotion in ("sadness", "fear", "anger", "disgust")
    joined = " | ".join(reply.status)
    assert "template reply" in joined and failed in joined, reply.status
    assert all("\n" not in s for s in reply.status)


def test_a_healthy_server_gives_a_generated_reply(server):
    reply, streamed, _ = respond(server.url("ok"))
    assert reply.route == "generated", reply.status
    assert reply.text == "".join(GOOD_REPLY) and reply.status == ()


def test_a_slow_server_within_the_timeout_still_gives_its_reply(server):
    reply, _, took = respond(server.url("slow"))
    assert reply.route == "generated" and took >= 0.15 * len(GOOD_REPLY)


@pytest.mark.parametrize("mode, failed", [
    ("http500", "HTTP 500"),
    ("truncated", "ended the stream early"),
    ("malformed", "malformed stream chunk"),
    ("document_malformed", "malformed reply"),
    ("stall", "timed out"),
])
def test_server_faults_still_give_the_person_a_reply(server, mode, failed):
    reply, streamed, took = respond(server.url(mode))
    assert_fallback(reply, streamed, failed)
    assert took < FAULT_TIMEOUT_S + 3
    if mode in ("truncated", "malformed", "stall"):
        assert "That sounds" not in reply.text  # the half reply that streamed was withdrawn


@pytest.mark.parametrize("mode, failed", [("http500", "HTTP 500"), ("malformed", "malformed stream chunk")])
def test_a_capable_backend_failing_falls_back_for_the_appraisal_too(server, mode, failed):
    reply, streamed, _ = respond(server.url(mode), capable=True)
    assert_fallback(reply, streamed, failed)
    assert reply.appraisal.source == "code"
    assert any(s.startswith("LLM appraisal failed") for s in reply.status)


def test_a_server_killed_mid_stream(server):
    reply, streamed, took = respond(server.url("killed"))
    assert server.proc.wait(timeout=10) == -signal.SIGKILL  # it really died, mid-reply
    assert_fallback(reply, streamed, "LLM failed")
    assert took < FAULT_TIMEOUT_S + 3
    reply, streamed, _ = respond(server.url("ok"))  # the next turn: nothing is listening any more
    assert_fallback(reply, streamed, "refused the connection")


def test_nothing_listening(server):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    reply, streamed, took = respond(f"http://127.0.0.1:{port}/v1", capable=True)
    assert_fallback(reply, streamed, "refused the connection")
    assert took < 3


def test_a_live_session_says_what_failed(server):
    from ui.session import LiveSession, SessionModels

    backend = OpenAIHTTPBackend(server.url("http500"), model="fake", capable=False)
    session = LiveSession(SessionModels(responder=Responder(backend, embedder="tfidf")))
    turn = session.on_text(TEXT)
    assert turn.reply.route == "fallback" and session.chat[-1] == {"role": "assistant", "content": turn.reply.text}
    assert any("HTTP 500" in p for p in session.snapshot()["problems"])
    assert any(e["kind"] == "reply" and any("HTTP 500" in s for s in e["status"]) for e in session.timeline())


@pytest.fixture(scope="module")
def broken_ggufs(tmp_path_factory) -> dict[str, Path]:
    from basics.assets import model_path

    folder = tmp_path_factory.mktemp("gguf")
    corrupt = folder / "corrupt.gguf"
    corrupt.write_bytes(b"GGUF\x03\x00\x00\x00" + os.urandom(4096))
    cut = folder / "cut.gguf"
    with open(model_path("smollm2-135m"), "rb") as whole:
        cut.write_bytes(whole.read(2_000_000))  # the first 2 MB of the real model: a download that stopped
    not_gguf = folder / "not.gguf"
    not_gguf.write_bytes(os.urandom(4096))
    return {"missing": folder / "missing.gguf", "corrupt": corrupt, "cut": cut, "not_gguf": not_gguf}


@pytest.mark.parametrize("kind, failed", [("missing", "file not found"), ("corrupt", "could not load"),
                                          ("cut", "could not load"), ("not_gguf", "not a GGUF file")])
def test_a_bad_model_file_still_gives_replies_and_says_why(broken_ggufs, kind, failed):
    from ui.session import LiveSession, load_models

    models = load_models(parts=("responder",), backend_model=str(broken_ggufs[kind]))
    status = models.status["responder"]
    assert status.startswith("template replies only") and failed in status and broken_ggufs[kind].name in status
    turn = LiveSession(models).on_text(TEXT)
    assert turn.reply is not None and turn.reply.route == "fallback" and turn.reply.text.strip()
