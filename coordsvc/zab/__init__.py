"""coordsvc's ZAB core: a pure atomic-broadcast state machine (no I/O, clock or randomness).

The driver (the server's runner, the simulator, the transcript harness)::

    peer = ZabPeer(ZabConfig(id=1, voters={1, 2, 3}), storage, random.Random())
    peer.step(Received(sender, message))   # or Tick(), Persisted(mark), Propose(...),
                                           # PeerDisconnected(peer), ...
    while peer.has_ready():
        rd = peer.ready()                  # a Ready: what to persist, send, apply
        ...                                # the order is in coordsvc.zab.ready
        peer.advance(rd)

A restart is a new ZabPeer over the same storage. Broken invariants raise
InvariantViolation (stop the node); a misbehaving peer shows up as a
PeerProtocolError value in ``Ready.protocol_errors``; misuse raises UsageError.
"""

from coordsvc.zab.errors import InvariantViolation, PeerProtocolError, UsageError
from coordsvc.zab.log import LogStorage
from coordsvc.zab.messages import (
    ClientRead,
    ClientWrite,
    Input,
    LogPurged,
    Message,
    NotLeader,
    PeerDisconnected,
    Persisted,
    Phase,
    Propose,
    Received,
    Role,
    Tick,
    Touched,
)
from coordsvc.zab.peer import ZabConfig, ZabPeer
from coordsvc.zab.ready import Epochs, PeerState, ReadState, Ready

__all__ = [
    "ZabPeer",
    "ZabConfig",
    "LogStorage",
    "Ready",
    "PeerState",
    "Epochs",
    "ReadState",
    "Role",
    "Phase",
    "Message",
    "Input",
    "Received",
    "Tick",
    "Persisted",
    "Propose",
    "ClientWrite",
    "ClientRead",
    "Touched",
    "LogPurged",
    "PeerDisconnected",
    "NotLeader",
    "InvariantViolation",
    "PeerProtocolError",
    "UsageError",
]
