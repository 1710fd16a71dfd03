"""Nothing leaves the machine with the embedded defaults.

A whole session runs in a fresh process whose sockets may reach only this machine (127.0.0.1, ::1, unix sockets):
the models load as `empathic demo` loads them, the web app serves on 127.0.0.1, and a gradio_client session turns
the camera and microphone on, sends a photo, a recording and typed text, and gets replies. Every attempt to resolve
or reach another host is recorded (and refused); the test asserts there was none.

The guard patches Python's socket layer (connect, connect_ex, sendto, create_connection, getaddrinfo), which is what
Python libraries (huggingface_hub, requests, httpx, urllib, gradio) go through. A native library opening its own
sockets from C would not be seen; none of the embedded models does so (they load from files).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]

WHOLE_SESSION = r'''
import json, socket, sys, threading

ATTEMPTS = []
LOCAL_NAMES = {"127.0.0.1", "::1", "localhost", "0:0:0:0:0:0:0:1", None, ""}


def local(address):
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = address[0] if isinstance(address, tuple) and address else address
    return host in LOCAL_NAMES or (isinstance(host, str) and host.startswith("127."))


def refuse(what, address):
    ATTEMPTS.append({"call": what, "address": repr(address), "thread": threading.current_thread().name})
    raise OSError(101, f"network is blocked in this test: {what} {address!r}")


real_connect, real_connect_ex, real_sendto = socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto
real_getaddrinfo, real_create_connection = socket.getaddrinfo, socket.create_connection


def connect(self, address):
    return real_connect(self, address) if local(address) else refuse("connect", address)


def connect_ex(self, address):
    return real_connect_ex(self, address) if local(address) else refuse("connect_ex", address)


def sendto(self, data, *args):
    address = args[-1]
    return real_sendto(self, data, *args) if local(address) else refuse("sendto", address)


def getaddrinfo(host, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else host
    return real_getaddrinfo(host, *args, **kwargs) if local((name,)) else refuse("getaddrinfo", name)


def create_connection(address, *args, **kwargs):
    return real_create_connection(address, *args, **kwargs) if local(address) else refuse("create_connection", address)


socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto = connect, connect_ex, sendto
socket.getaddrinfo, socket.create_connection = getaddrinfo, create_connection

import ui.cli  # noqa: E402,F401  what `empathic` sets before any model library is imported
from gradio_client import Client, handle_file  # noqa: E402

from ui.app import launch  # noqa: E402
from ui.session import load_models  # noqa: E402

png, wav = sys.argv[1], sys.argv[2]
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
models = load_models()  # the embedded defaults, exactly as `empathic demo` loads them
app, server = launch(host="127.0.0.1", port=port, models=models, block=False)
try:
    client = Client(f"http://127.0.0.1:{port}/", verbose=False)
    client.predict(True, api_name="/consent_camera")
    client.predict(True, api_name="/consent_microphone")
    client.predict(handle_file(png), "Look at my new haircut!", api_name="/photo_turn")
    client.predict(handle_file(wav), api_name="/recording_turn")
    chat, _ = client.predict("I finally finished my thesis today.", api_name="/text_turn")
    report = client.predict(api_name="/session_report")
finally:
    app.close()
    models.close()
print("RESULT " + json.dumps({"attempts": ATTEMPTS, "status": models.status, "report": report,
                              "last_reply": chat[-1]["content"] if chat else None}, default=str), flush=True)
'''


def test_a_whole_session_with_the_defaults_tries_no_outside_connection(browser_media, tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HF_", "TRANSFORMERS_", "GRADIO_", "EMPATHIC_"))}  # as a person's shell has it
    env.update(HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"), PYTHONPATH=str(REPO),
               GRADIO_TEMP_DIR=str(tmp_path / "gradio"))
    done = subprocess.run([sys.executable, "-c", WHOLE_SESSION, str(browser_media["png"]), str(browser_media["wav"])],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, (done.stdout[-2000:], done.stderr[-4000:])
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["attempts"] == [], result["attempts"]
    assert not [p for p, s in result["status"].items() if s.startswith("unavailable")], result["status"]
    counters = result["report"]["counters"]
    assert counters["frames_analyzed"] == 1 and counters["utterances"] == 1 and counters["replies"] == 3
    assert result["last_reply"]


def test_the_guard_sees_an_outside_connection(tmp_path):
    """The same guard, asked to reach an outside address, records it: the test above is not blind."""
    probe = WHOLE_SESSION.split("import ui.cli")[0] + r'''
import urllib.request
for target in ("http://example.org/", "http://93.184.215.14/"):
    try:
        urllib.request.urlopen(target, timeout=2)
    except OSError:
        pass
for call in (lambda: socket.getaddrinfo("pypi.org", 443), lambda: socket.socket().connect(("1.1.1.1", 53))):
    try:
        call()
    except OSError:
        pass
with socket.socket() as s:  # this machine stays reachable
    s.bind(("127.0.0.1", 0)); s.listen(1)
    socket.create_connection(s.getsockname(), timeout=2).close()
print("RESULT " + json.dumps(ATTEMPTS))
'''
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    attempts = json.loads(done.stdout.split("RESULT ")[-1])
    assert [(a["call"], a["address"]) for a in attempts] == [
        ("create_connection", "('example.org', 80)"), ("create_connection", "('93.184.215.14', 80)"),
        ("getaddrinfo", "'pypi.org'"), ("connect", "('1.1.1.1', 53)")], attempts
