"""Fixtures shared across the test packages; keep this small and generic."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pytest

# Models come from PyPI packages only: no test may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Ray clusters the tests start (and their drivers) stay on 127.0.0.1; without this Ray swaps in the machine's own
# network address. Read once, when ray is first imported, so it is set before any test imports it.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

REPO_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """The committed speech clips (samples/make_samples.py) and their transcripts.json."""
    return REPO_DIR / "samples"


@pytest.fixture(scope="session")
def write_sparse_wav():
    """A maker of very long 16-bit mono wav files that cost no disk and no time: a header, then a sparse hole of
    zeros (silence), with `speech` written at each of `speech_at_s`. For the "2-hour file" bad-input tests."""

    def write(path: Path, duration_s: float, speech: np.ndarray | None = None, speech_at_s: tuple[float, ...] = (),
              sample_rate_hz: int = 16000) -> Path:
        frames = int(duration_s * sample_rate_hz)
        header = (b"RIFF" + struct.pack("<I", 36 + 2 * frames) + b"WAVEfmt "
                  + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate_hz, 2 * sample_rate_hz, 2, 16)
                  + b"data" + struct.pack("<I", 2 * frames))
        with open(path, "wb") as handle:
            handle.write(header)
            handle.truncate(len(header) + 2 * frames)
            for at_s in speech_at_s:
                handle.seek(len(header) + 2 * int(at_s * sample_rate_hz))
                handle.write((np.clip(speech, -1, 1) * 32767).astype("<i2").tobytes())
        return path

    return write


# In CI a skipped test is a failed test: the data and the programs are part of what CI must provide, and a suite
# that skips itself on a broken import or a missing folder can pass while the code is broken. Locally (no CI
# variable) a missing ../shared/data still skips, with its reason.
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CI") and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which must provide everything a test needs: {reason}"


RAY_OBJECT_STORE_BYTES = 150_000_000  # the box is shared: a small store, two CPUs, no dashboard
RAY_START_TIMEOUT_S = 120


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    """A real Ray cluster on this machine (`ray start --head --block`, 2 CPUs, a small object store), its address
    yielded; every process of it stopped by process id at the end, whatever the tests did. (With
    ~/.ray/auth_token present Ray asks for that token.)"""
    import signal
    import socket
    import subprocess
    import sys
    import time

    import psutil

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path_factory.mktemp("ray") / "ray_start.log"
    ray_cli = Path(sys.executable).with_name("ray")
    # RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 keeps the cluster on 127.0.0.1 (else Ray swaps in the machine's address)
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    with log.open("w") as out:
        head = subprocess.Popen([str(ray_cli), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
                                 f"--port={port}", "--num-cpus=2", f"--object-store-memory={RAY_OBJECT_STORE_BYTES}",
                                 "--include-dashboard=false", "--disable-usage-stats"],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    processes: list = []
    try:
        deadline = time.monotonic() + RAY_START_TIMEOUT_S
        address = None
        while address is None:
            if "Ray runtime started" in log.read_text():
                address = f"127.0.0.1:{port}"
            elif head.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ray start failed: {log.read_text()[-2000:]}")
            else:
                time.sleep(0.5)
        yield address
    finally:
        try:
            processes = psutil.Process(head.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            processes = []
        head.send_signal(signal.SIGTERM)
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            head.kill()
            head.wait()
        for process in processes:  # anything the head's own shutdown missed
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
