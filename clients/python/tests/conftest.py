"""Live nodes for the tests: `depthcast demo` built from this repository and run on free ports."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]


@dataclass
class Node:
    url: str
    http: str
    log: Path
    recording: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        return int(self.http.rsplit(":", 1)[1])

    @property
    def broker(self) -> str:
        """broker is a demo's embedded Kafka-protocol broker address, from its log."""
        m = re.search(r"embedded Kafka-protocol broker listening.* addr=(\S+)", self.log.read_text())
        if m is None:
            raise RuntimeError(f"no broker address in {self.log}")
        return m.group(1)

    def stop(self) -> None:
        """stop sends SIGTERM (the node drains: clients get 1001) and waits, then kills after 20 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def get(self, path: str, token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        req = urllib.request.Request(self.http + path, headers=headers)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    def wait_live(self, n: int) -> None:
        """wait_live waits until the node has at least ``n`` live symbols."""
        deadline = time.monotonic() + 60
        while sum(s["status"] == "live" for s in self.get("/v1/symbols")["symbols"]) < n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"fewer than {n} live symbols on {self.http}")
            time.sleep(0.05)


def launch(binary: Path, cmd: str, *args: str, port: int = 0, log_level: str = "warn") -> Node:
    """launch starts a node (on ``port``, else a free one) and returns it once /readyz answers 200; the
    caller stops it."""
    tmp = Path(tempfile.mkdtemp(prefix="depthcast-node-"))
    for _ in range(5):
        p = port or _free_port()
        log = tmp / f"{cmd}-{p}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [str(binary), cmd, "--listen", f"127.0.0.1:{p}", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "DEPTHCAST_LOG_LEVEL": log_level},
            )
        node = Node(url=f"ws://127.0.0.1:{p}", http=f"http://127.0.0.1:{p}", log=log, proc=proc)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(node.http + "/readyz", timeout=2) as r:
                    if r.status == 200:
                        return node
            except OSError:
                pass
            time.sleep(0.05)
        node.stop()
        if port:
            break
    raise RuntimeError(f"depthcast {cmd} did not become ready; see {tmp}")


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
    node = launch(binary, cmd, *args)
    node.recording = recording
    try:
        if cmd == "demo":
            node.wait_live(3)  # the tests subscribe BTC-USD, ETH-USD and SOL-USD
        yield node
    finally:
        node.stop()
        shutil.rmtree(node.log.parent, ignore_errors=True)


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
    """small_queue_node closes a connection with 1013 once 256 KiB are queued for it: half a second of its
    flow, so only a reader that stopped fills it, never a busy machine's scheduling delays."""
    yield from _start(binary, "demo", "--rate", "3000", "--send-queue-bytes", "262144")


@pytest.fixture(scope="session")
def upstream(binary: Path) -> Iterator[Node]:
    """upstream is a demo whose embedded broker the tests also write to and read with ``serve`` nodes."""
    node = launch(binary, "demo", "--symbols", "3", "--rate", "400", log_level="info")
    try:
        node.wait_live(3)
        yield node
    finally:
        node.stop()


def kcat_or_skip() -> None:
    """kcat_or_skip skips the calling test when kcat (the upstream producer the tests write with) is
    missing, or fails it with CI=true."""
    if shutil.which("kcat") is not None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail("kcat is needed to write upstream records: apt-get install kcat")
    pytest.skip("kcat is not installed (apt-get install kcat): no way to write upstream records")


def produce(broker: str, *records: dict[str, Any]) -> None:
    """produce writes records, each keyed by its symbol, to the demo topic of ``broker`` with kcat."""
    data = "".join(f"{r['symbol']}|{json.dumps(r)}\n" for r in records)
    subprocess.run(
        ["kcat", "-P", "-b", broker, "-t", "md.events", "-K", "|"],
        input=data.encode(),
        check=True,
        timeout=30,
    )
