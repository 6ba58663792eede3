"""Run the servers of deploy/compose/compose.yaml as local processes, from its own command lines.

The compose file is the one place the ensemble's command lines are written;
this module reads them back so tests start exactly those lines, with three
changes that let them run side by side on one machine:

* every address a server listens on or dials (``0.0.0.0:P`` and
  ``<service>:P``) becomes ``127.0.0.1:<free port>``, one free port per
  (service, container port), so ``--peers`` still points each server at
  the others' ``--peer-listen``;
* ``--data-dir`` becomes a directory under the caller's temporary root;
* the ``coordsvc`` program becomes ``python -m coordsvc`` of this interpreter.

``drop`` removes flags a caller cannot run yet (e.g. replication flags before
the server has them). ``LocalEnsemble`` starts, addresses and stops the lot.
"""

from __future__ import annotations

import os
import random
import re
import selectors
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

__all__ = [
    "COMPOSE_FILE",
    "NodeCommand",
    "LocalEnsemble",
    "load_compose",
    "command_lines",
    "remap",
    "drop_flags",
    "free_port",
]

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "deploy" / "compose" / "compose.yaml"
LISTENING = "coordsvc listening on "
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
WILDCARDS = ("0.0.0.0", "[::]", "::")
_ADDRESS = re.compile(r"(?P<host>\[[^\]]*\]|[A-Za-z0-9_.-]+):(?P<port>\d+)")


# Ports handed to servers before they start (peers must know each other's)
# come from below the kernel's ephemeral range: a port taken with bind(0)
# and released can be grabbed at once by any outgoing connection, which
# draws from that range; these ones cannot.
# A port is handed out once per test process: an ensemble picks all its
# ports before any server binds one, so "free right now" alone would let a
# client port land on a peer port picked a moment earlier.
_FIXED_PORTS = (20_000, 32_000)
_port_rng = random.Random(os.getpid() ^ time.monotonic_ns())
_handed_out: set[int] = set()


def free_port() -> int:
    """A loopback port free right now, never handed out before by this process,
    outside the range outgoing connections use."""
    if len(_handed_out) > (_FIXED_PORTS[1] - _FIXED_PORTS[0]) // 2:
        _handed_out.clear()  # long runs: ports from long-stopped servers come back
    for _ in range(1000):
        port = _port_rng.randrange(*_FIXED_PORTS)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free loopback port in the fixed range")


def load_compose(path: Path = COMPOSE_FILE) -> dict:
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict):
        raise ValueError(f"{path}: no services")
    return doc


def command_lines(compose: dict) -> dict[str, list[str]]:
    """service -> argv, as compose would run it (a string is split shell-style, without a shell)."""
    out = {}
    for name, service in compose["services"].items():
        command = service.get("command")
        if command is None:
            raise ValueError(f"service {name} has no command")
        out[name] = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    return out


@dataclass
class NodeCommand:
    """One server's runnable command line and where its ports went."""

    service: str
    argv: list[str]
    ports: dict[int, int] = field(default_factory=dict)  # container port -> loopback port
    data_dir: Path | None = None

    def flag(self, name: str) -> str | None:
        """The value of ``--name`` (``--name V`` or ``--name=V``), None if absent."""
        for i, arg in enumerate(self.argv):
            if arg == name and i + 1 < len(self.argv):
                return self.argv[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
        return None


def remap(
    commands: dict[str, list[str]],
    data_root: Path,
    port_for: Callable[[], int] = free_port,
) -> dict[str, NodeCommand]:
    """Rewrite each command line to run locally (see the module docstring)."""
    ports: dict[tuple[str, int], int] = {}

    def local(service: str, port: int) -> int:
        if (service, port) not in ports:
            ports[(service, port)] = port_for()
        return ports[(service, port)]

    nodes = {}
    for service, argv in commands.items():
        node = NodeCommand(service, [])
        args = list(argv)
        if args and Path(args[0]).name == "coordsvc":
            args = [sys.executable, "-m", "coordsvc", *args[1:]]
        i = 0
        while i < len(args):
            arg = args[i]
            name, eq, _ = arg.partition("=") if arg.startswith("--") else (arg, "", "")
            if name == "--data-dir":
                node.data_dir = data_root / service
                if eq:
                    node.argv.append(f"--data-dir={node.data_dir}")
                    i += 1
                else:
                    node.argv += ["--data-dir", str(node.data_dir)]
                    i += 2
                continue
            node.argv.append(_rewrite(arg, service, set(commands), local, node.ports))
            i += 1
        nodes[service] = node
    return nodes


def _rewrite(arg: str, me: str, services: set[str], local, mine: dict[int, int]) -> str:
    def sub(m: re.Match) -> str:
        host, port = m.group("host"), int(m.group("port"))
        owner = me if host in WILDCARDS else host if host in services else None
        if owner is None:
            return m.group(0)
        new = local(owner, port)
        if owner == me:
            mine[port] = new
        return f"127.0.0.1:{new}"

    return _ADDRESS.sub(sub, arg)


def drop_flags(argv: list[str], flags: Iterable[str], switches: Iterable[str] = ()) -> list[str]:
    """argv without ``flags`` (each with its value) and ``switches`` (no value)."""
    flags, switches = set(flags), set(switches)
    out, i = [], 0
    while i < len(argv):
        name = argv[i].split("=", 1)[0]
        if name in switches:
            i += 1
        elif name in flags:
            i += 1 if "=" in argv[i] else 2
        else:
            out.append(argv[i])
            i += 1
    return out


class LocalEnsemble:
    """The remapped servers as child processes; always ``stop()`` (or use ``with``)."""

    def __init__(self, nodes: dict[str, NodeCommand], log_dir: Path) -> None:
        self.nodes = nodes
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen] = {}
        self.addresses: dict[str, str] = {}

    def __enter__(self) -> LocalEnsemble:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self, service: str) -> str:
        path = self.log_dir / f"{service}.stderr.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> dict[str, str]:
        """Start every server, then wait for each to print its address; service -> address."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for service, node in self.nodes.items():
            with open(self.log_dir / f"{service}.stderr.log", "ab") as log:
                self.procs[service] = subprocess.Popen(
                    node.argv, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL
                )
        for service in self.nodes:
            self.addresses[service] = self._wait_listening(service)
        return dict(self.addresses)

    def _wait_listening(self, service: str) -> str:
        proc = self.procs[service]
        deadline = time.monotonic() + START_TIMEOUT_S
        buf = b""
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while b"\n" not in buf:
                left = deadline - time.monotonic()
                if left <= 0 or proc.poll() is not None:
                    raise RuntimeError(f"{service} did not start:\n{self.log(service)}")
                if sel.select(min(left, 0.2)):
                    chunk = os.read(proc.stdout.fileno(), 4096)
                    if not chunk:
                        raise RuntimeError(f"{service} closed stdout:\n{self.log(service)}")
                    buf += chunk
        line = buf.split(b"\n", 1)[0].decode()
        if not line.startswith(LISTENING):
            raise RuntimeError(f"{service}: unexpected first line {line!r}")
        return line[len(LISTENING) :].strip()

    def stop(self) -> dict[str, int]:
        """SIGTERM every server, SIGKILL what outlives the timeout; service -> exit code."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = {}
        for service, proc in self.procs.items():
            try:
                codes[service] = proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[service] = proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        return codes
