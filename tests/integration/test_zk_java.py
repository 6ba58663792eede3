"""Apache ZooKeeper's own Java client against coordsvc's ZooKeeper port.

The Java client is what most ZooKeeper applications (and Curator, and
zkCli) are built on. zkjava/WatchMove.java sets watches through a follower;
the test kills that follower and changes the watched nodes through another
member. The client must move once, keep its session and its ephemeral, and
get the events it missed while moving (its SetWatches on reconnect).
Needs java, javac and ZooKeeper's client jar (scripts/install_test_deps.sh).
"""

from __future__ import annotations

import selectors
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from coordsvc.client import Client

ZK_JAR = Path("/usr/share/java/zookeeper.jar")
SOURCE = Path(__file__).parent / "zkjava" / "WatchMove.java"
WAIT_S = 30.0


@pytest.fixture(scope="module")
def java_client(tmp_path_factory) -> list[str]:
    """The command that runs WatchMove (compiled once per run)."""
    missing = [t for t in ("java", "javac") if shutil.which(t) is None]
    if missing or not ZK_JAR.exists():
        pytest.fail(f"needs {missing or ZK_JAR}: run scripts/install_test_deps.sh")
    out = tmp_path_factory.mktemp("zkjava")
    subprocess.run(
        ["javac", "-cp", str(ZK_JAR), "-d", str(out), str(SOURCE)], check=True, timeout=120
    )
    return ["java", "-cp", f"{out}:{ZK_JAR}", "WatchMove"]


def _connections(address: str) -> int:
    host, _, port = address.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"srvr")
        out = b""
        while chunk := sock.recv(4096):
            out += chunk
    return int(out.decode().split("Connections: ")[1].split()[0])


class Lines:
    """The Java client's stdout, a line at a time, each wait bounded."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.seen: list[str] = []
        self._buf = b""
        self._sel = selectors.DefaultSelector()
        self._sel.register(proc.stdout, selectors.EVENT_READ)

    def next(self, timeout: float = WAIT_S) -> str:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            assert left > 0, f"the Java client said nothing more; so far: {self.seen}"
            if self._sel.select(left):
                chunk = self.proc.stdout.read1(4096)
                assert chunk, f"the Java client exited; so far: {self.seen}"
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        self.seen.append(line.decode().strip())
        return self.seen[-1]

    def until(self, prefix: str) -> str:
        while not (line := self.next()).startswith(prefix):
            pass
        return line


def test_the_java_client_moves_once_and_gets_the_events_it_missed(
    ensemble_factory, java_client, tmp_path
) -> None:
    ens = ensemble_factory(3)
    leader = ens.wait_leader()
    followers = [n for n in ens.nodes.values() if n is not leader]
    hosts = ",".join(n.zk_address for n in followers)
    with open(tmp_path / "java.stderr", "wb") as err:
        proc = subprocess.Popen(
            [*java_client, hosts], stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL
        )
    try:
        out = Lines(proc)
        session = out.until("READY ").split()[1]
        victim = max(followers, key=lambda n: _connections(n.zk_address))
        other = next(n for n in followers if n is not victim)
        victim.kill()
        with Client(other.address, session_timeout=8.0) as sdk:
            sdk.set("/jw", b"v1")
            sdk.create("/jw-new")
            assert sdk.exists("/jw-eph").ephemeral_owner == int(session, 16)
        events = {out.until("EVENT "), out.until("EVENT ")}
        assert events == {"EVENT NodeDataChanged /jw", "EVENT NodeChildrenChanged /"}
        assert out.until("DATA ") == f"DATA v1 {session}"
        assert out.until("DONE") == "DONE"
        states = [line for line in out.seen if line.startswith("STATE ")]
        # one move (connected, lost the killed follower, connected to the other), then close
        assert states == [
            "STATE SyncConnected",
            "STATE Disconnected",
            "STATE SyncConnected",
            "STATE Closed",
        ]
        assert proc.wait(WAIT_S) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
