"""A coordsvc ensemble whose members live in network namespaces of their own.

Each member runs in its own namespace with its own address; the namespaces
hang off one bridge (in a namespace of its own too), and this process
reaches them through one more veth. So faults are real network faults on
real sockets, made with the kernel's own tools:

- ``loss(node, percent)`` drops that share of every packet arriving at the
  member (nftables ``numgen random``): TCP retransmits, heartbeats are late;
- ``cut(a, b)`` drops everything between two members (both directions), and
  ``isolate(node)`` cuts it from every other member while its clients can
  still reach it: a partition, not a crash;
- ``heal()`` removes every rule.

Everything made here is named after this process's PID and removed by
``close()``: the processes (by PID), then the namespaces (which takes their
links). Needs root, ``ip`` (iproute2) and ``nft`` (nftables):
``scripts/install_test_deps.sh`` installs them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import grpc
from ensemble import spawn_listening

from coordsvc.v1 import admin_pb2 as apb
from coordsvc.v1 import admin_pb2_grpc as apb_grpc

CLIENT_PORT = 2181
PEER_PORT = 2888


def _run(*cmd: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {done.stderr.strip() or done.returncode}")


def missing_tools() -> str:
    """Why network-namespace tests cannot run here ("" when they can)."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    lacking = [tool for tool in ("ip", "nft") if shutil.which(tool) is None]
    if lacking:
        return f"needs {' and '.join(lacking)}: run scripts/install_test_deps.sh"
    return ""


def _free_subnet() -> int:
    """A 10.77.S.0/24 no interface here uses yet (another test run may hold some)."""
    routes = subprocess.run(["ip", "-4", "route", "show"], capture_output=True, text=True).stdout
    for s in range(10, 250):
        if f"10.77.{s}.0/24" not in routes:
            return s
    raise RuntimeError("no free 10.77.S.0/24 subnet left")


class Member:
    """One ``coordsvc serve`` in namespace ``ns`` at ``ip``."""

    def __init__(self, nid: int, ns: str, ip: str, root: Path) -> None:
        self.id = nid
        self.ns = ns
        self.ip = ip
        self.address = f"{ip}:{CLIENT_PORT}"
        self.data_dir = root / f"n{nid}"
        self.log_path = root / f"n{nid}.stderr.log"
        self.proc: subprocess.Popen | None = None

    def start(self, peers: str, *extra: str) -> None:
        cmd = ["ip", "netns", "exec", self.ns, sys.executable, "-m", "coordsvc", "serve"]
        cmd += ["--id", str(self.id), "--listen", self.address, "--data-dir", str(self.data_dir)]
        cmd += ["--peer-listen", f"{self.ip}:{PEER_PORT}", "--peers", peers]
        cmd += ["--tick-ms", "200", "--log-format", "json", *extra]
        self.proc = spawn_listening(cmd, self.log_path, f"member {self.id}")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def status(self, timeout: float = 1.0) -> apb.StatusResponse | None:
        try:
            with grpc.insecure_channel(self.address) as channel:
                return apb_grpc.AdminStub(channel).Status(apb.StatusRequest(), timeout=timeout)
        except grpc.RpcError:
            return None

    def stop(self) -> None:
        """SIGTERM (SIGKILL after 10 s). ``ip netns exec`` execs the server: same PID."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class NetCluster:
    """Namespaces, links and members; see the module doc."""

    made = 0  # clusters made by this process: each gets names and a subnet of its own

    def __init__(self, root: Path, members: int = 3) -> None:
        NetCluster.made += 1
        tag = f"cs{os.getpid() % 10000}x{NetCluster.made % 100}"
        self._tag = tag
        subnet = _free_subnet()
        self.hub = f"{tag}hub"
        self._host_if = f"{tag}h"
        self._namespaces: list[str] = []
        self.members: dict[int, Member] = {}
        self._rules: set[tuple[int, str]] = set()
        try:
            self._make_ns(self.hub)
            _run("ip", "-n", self.hub, "link", "add", "br0", "type", "bridge")
            _run("ip", "-n", self.hub, "link", "set", "br0", "up")
            # this process's way in: a veth from the root namespace to the bridge
            self._plug(self._host_if, f"{tag}hb", None)
            _run("ip", "addr", "add", f"10.77.{subnet}.254/24", "dev", self._host_if)
            _run("ip", "link", "set", self._host_if, "up")
            for i in range(1, members + 1):
                ns = f"{tag}n{i}"
                self._make_ns(ns)
                self._plug(f"{tag}a{i}", f"{tag}b{i}", ns)
                _run("ip", "-n", ns, "addr", "add", f"10.77.{subnet}.{i}/24", "dev", "eth0")
                _run("ip", "-n", ns, "link", "set", "eth0", "up")
                _run("ip", "netns", "exec", ns, "nft", "add", "table", "inet", "faults")
                chain = "{ type filter hook input priority 0; }"
                _run(
                    "ip", "netns", "exec", ns, "nft", "add", "chain", "inet", "faults", "in", chain
                )
                self.members[i] = Member(i, ns, f"10.77.{subnet}.{i}", root)
        except BaseException:
            self.close()
            raise
        self.peers = ",".join(f"{m.id}={m.ip}:{PEER_PORT}" for m in self.members.values())

    def _make_ns(self, ns: str) -> None:
        _run("ip", "netns", "add", ns)
        self._namespaces.append(ns)
        _run("ip", "-n", ns, "link", "set", "lo", "up")

    def _plug(self, inner: str, outer: str, ns: str | None) -> None:
        """A veth pair: ``inner`` goes into ``ns`` as eth0 (stays here if None), ``outer`` onto the bridge."""
        _run("ip", "link", "add", inner, "type", "veth", "peer", "name", outer)
        _run("ip", "link", "set", outer, "netns", self.hub)
        _run("ip", "-n", self.hub, "link", "set", outer, "master", "br0")
        _run("ip", "-n", self.hub, "link", "set", outer, "up")
        if ns is not None:
            _run("ip", "link", "set", inner, "netns", ns)
            _run("ip", "-n", ns, "link", "set", inner, "name", "eth0")

    # ---- members ----------------------------------------------------------------

    def start(self, *extra: str) -> None:
        for m in self.members.values():
            m.start(self.peers, *extra)

    def wait_leader(self, timeout: float = 30.0, among=None) -> Member:
        """The member that reports itself leading, once the others it can see follow it."""
        deadline = time.monotonic() + timeout
        among = list(among or self.members.values())
        while time.monotonic() < deadline:
            statuses = {m.id: m.status() for m in among}
            leaders = [m for m in among if (s := statuses[m.id]) and s.role == "leading"]
            if len(leaders) == 1:
                lead = leaders[0]
                followers = [s for i, s in statuses.items() if i != lead.id and s]
                if followers and all(s.leader_id == lead.id for s in followers):
                    return lead
            time.sleep(0.1)  # poll interval of a deadline-bounded wait
        raise AssertionError(f"no leader among {[m.id for m in among]} in {timeout}s")

    # ---- faults -----------------------------------------------------------------

    def _nft(self, member: Member, rule: str) -> None:
        _run(
            "ip",
            "netns",
            "exec",
            member.ns,
            "nft",
            "add",
            "rule",
            "inet",
            "faults",
            "in",
            *rule.split(),
        )
        self._rules.add((member.id, rule))

    def loss(self, member: Member, percent: int) -> None:
        """Drop ``percent`` % of the packets arriving at ``member`` (from anyone)."""
        self._nft(member, f"numgen random mod 100 < {percent} drop")

    def cut(self, a: Member, b: Member) -> None:
        """Nothing passes between ``a`` and ``b``, either way."""
        self._nft(a, f"ip saddr {b.ip} drop")
        self._nft(b, f"ip saddr {a.ip} drop")

    def isolate(self, member: Member) -> None:
        """Cut ``member`` from every other member; its clients still reach it."""
        for other in self.members.values():
            if other is not member:
                self.cut(member, other)

    def heal(self) -> None:
        for m in self.members.values():
            _run("ip", "netns", "exec", m.ns, "nft", "flush", "chain", "inet", "faults", "in")
        self._rules.clear()

    # ---- teardown ---------------------------------------------------------------

    def close(self) -> None:
        for m in self.members.values():
            try:
                m.stop()
            except Exception:  # keep tearing down
                pass
        for ns in reversed(self._namespaces):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["ip", "link", "del", self._host_if], capture_output=True)
        self._namespaces.clear()
