"""Live nodes for the tests: `depthcast demo` built from this repository and run on free ports."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@dataclass
class Node:
    url: str
    http: str
    log: Path
    recording: Path | None = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def binary() -> Iterator[Path]:
    tmp = Path(tempfile.mkdtemp(prefix="depthcast-py-"))
    exe = tmp / "depthcast"
    subprocess.run(["go", "build", "-o", str(exe), "./cmd/depthcast"], cwd=REPO, check=True)
    yield exe
    shutil.rmtree(tmp, ignore_errors=True)


def _start(binary: Path, cmd: str, *args: str, recording: Path | None = None) -> Iterator[Node]:
    tmp = Path(tempfile.mkdtemp(prefix="depthcast-node-"))
    for _ in range(5):
        port = _free_port()
        log = tmp / f"demo-{port}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [str(binary), cmd, "--listen", f"127.0.0.1:{port}", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "DEPTHCAST_LOG_LEVEL": "warn"},
            )
        http = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        ready = False
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(http + "/readyz", timeout=2) as r:
                    if r.status == 200:
                        ready = True
                        break
            except OSError:
                pass
            time.sleep(0.1)
        if ready:
            try:
                yield Node(url=f"ws://127.0.0.1:{port}", http=http, log=log, recording=recording)
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                shutil.rmtree(tmp, ignore_errors=True)
            return
        proc.kill()
        proc.wait()
    raise RuntimeError(f"depthcast demo did not become ready; see {tmp}")


@pytest.fixture(scope="session")
def node(binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    rec = tmp_path_factory.mktemp("recording")
    yield from _start(
        binary, "demo", "--rate", "1000", "--record", str(rec), "--flush-interval", "200ms", recording=rec
    )


@pytest.fixture(scope="session")
def strict_node(binary: Path) -> Iterator[Node]:
    yield from _start(binary, "demo", "--rate", "100", "--ops-per-second", "1")


def _wait_recorded(node: Node) -> None:
    """_wait_recorded waits until ``node`` has recorded some history (blocks are flushed every 200ms)."""
    assert node.recording is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if sum(f.stat().st_size for f in node.recording.rglob("*") if f.is_file()) > 200_000:
            return
        time.sleep(0.2)
    raise RuntimeError("the demo node recorded nothing")


@pytest.fixture
def replay_node(binary: Path, node: Node) -> Iterator[Node]:
    """replay_node serves what ``node`` has recorded so far (`depthcast replay`, with /replay)."""
    _wait_recorded(node)
    yield from _start(binary, "replay", "--in", str(node.recording), "--speed", "0")


@dataclass
class AuthNode:
    node: Node
    key: str


@pytest.fixture
def auth_node(binary: Path, node: Node, tmp_path: Path) -> Iterator[AuthNode]:
    """auth_node replays ``node``'s recording with API keys on: one key that may see BTC-USD only."""
    out = subprocess.run(
        [str(binary), "keygen", "--name", "py", "--symbols", "BTC-USD"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    key = next(line for line in out if line.startswith("dck_"))
    keys = tmp_path / "keys"
    keys.write_text(next(line for line in out if line.startswith("sha256:")) + "\n")
    _wait_recorded(node)
    assert node.recording is not None
    for n in _start(binary, "replay", "--in", str(node.recording), "--speed", "0", "--auth-keys", str(keys)):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the replayed feed knows BTC-USD once it has played its events
            req = urllib.request.Request(n.http + "/v1/symbols", headers={"Authorization": f"Bearer {key}"})
            with urllib.request.urlopen(req, timeout=5) as r:
                if b'"BTC-USD"' in r.read():
                    break
            time.sleep(0.1)
        else:
            raise RuntimeError("the replay node never knew BTC-USD")
        yield AuthNode(n, key)


@pytest.fixture(scope="session")
def small_queue_node(binary: Path) -> Iterator[Node]:
    """small_queue_node closes a connection with 1013 once 16 KiB are queued for it."""
    yield from _start(
        binary, "demo", "--rate", "3000", "--send-queue-bytes", "16384", "--write-timeout", "2s"
    )
