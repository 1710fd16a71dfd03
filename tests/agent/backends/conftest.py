"""Fixtures shared by the backend tests: the embedded model loaded once, and a REAL OpenAI-compatible server.

The server is llama.cpp's own HTTP server (xllamacpp with a port set) serving the embedded SmolLM2 GGUF in a child
process on 127.0.0.1, so the openai backend is tested over real sockets, real SSE and a real model.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SERVER_START_TIMEOUT_S = 120.0  # two shared cores: a cold start can be slow

SERVE_SCRIPT = """
import signal, sys, xllamacpp
p = xllamacpp.CommonParams()
p.model.path = sys.argv[1]
p.port = int(sys.argv[2])
p.n_ctx = 2048
p.cpuparams.n_threads = 1  # 2 threads crawl when other processes share the 2 cores
p.cpuparams_batch.n_threads = 1
p.n_parallel = 1
p.verbosity = -1
p.model_alias = {sys.argv[3]}
server = xllamacpp.Server(p)
print(server.listening_address, flush=True)
signal.sigwait({signal.SIGTERM, signal.SIGINT})
"""

SERVED_MODEL_NAME = "smollm2-135m-instruct"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def gguf_path() -> Path:
    from basics.assets import model_path

    return model_path("smollm2-135m")


@pytest.fixture(scope="session")
def embedded():
    from agent.backends.llamacpp import LlamaCppBackend

    return LlamaCppBackend()


@pytest.fixture(scope="session")
def llama_server(gguf_path: Path, tmp_path_factory):
    """Base URL (ending in /v1) of a llama.cpp server child process; stopped by its pid at teardown."""
    port = free_port()
    log = tmp_path_factory.mktemp("llama_server") / "server.log"
    with open(log, "wb") as log_file:
        proc = subprocess.Popen([sys.executable, "-c", SERVE_SCRIPT, str(gguf_path), str(port), SERVED_MODEL_NAME],
                                stdout=log_file, stderr=subprocess.STDOUT, cwd=REPO)
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama.cpp server exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(base_url + "/models", timeout=2) as resp:
                    if resp.status == 200 and json.load(resp).get("data"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama.cpp server did not answer /v1/models within {SERVER_START_TIMEOUT_S:g} s")
            time.sleep(0.2)
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def served_model_name() -> str:
    return SERVED_MODEL_NAME
