"""What goes into the ZAB core: peer messages (nouns) and local inputs (past events, timers).

Every value here is a small frozen dataclass with a readable ``repr``; the
server's codec turns peer messages into protobuf and back, nothing else does.
Peer messages travel in ``Received(sender, message)``; the sender id comes
from the link, never from the message.

Epochs and attempts: every message a leader sends names the leader's epoch,
and every sync-phase message names the learner's ``attempt`` (a counter the
learner bumps each time it (re)registers with a leader, starting from a
random base per process so a restarted learner never reuses one), so a late
message from an earlier registration is told apart and dropped.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from coordsvc.tree.datatree import TreeImage
from coordsvc.tree.txn import Txn, TxnBody

__all__ = [
    "Role",
    "Phase",
    # peer messages
    "Vote",
    "FollowerInfo",
    "ObserverInfo",
    "NewEpoch",
    "LeaderInfo",
    "AckEpoch",
    "Diff",
    "Trunc",
    "Snap",
    "NewLeader",
    "AckNewLeader",
    "UpToDate",
    "Proposal",
    "Ack",
    "Commit",
    "Inform",
    "Ping",
    "PingAck",
    "Forward",
    "ReadIndex",
    "ReadIndexReply",
    "Message",
    "LEADER_MESSAGES",
    "LEARNER_MESSAGES",
    # local inputs
    "Received",
    "Tick",
    "Persisted",
    "Propose",
    "ClientWrite",
    "ClientRead",
    "Touched",
    "LogPurged",
    "PeerDisconnected",
    "Input",
    # rejection values
    "NotLeader",
]


class Role(enum.Enum):
    LOOKING = "LOOKING"
    FOLLOWING = "FOLLOWING"
    LEADING = "LEADING"
    OBSERVING = "OBSERVING"


class Phase(enum.Enum):
    """Where a node is in ZAB: electing, then discovery, sync, broadcast."""

    ELECTION = "ELECTION"
    DISCOVERY = "DISCOVERY"
    SYNC = "SYNC"
    BROADCAST = "BROADCAST"


_frozen = dataclass(frozen=True, slots=True)

# ---- election -------------------------------------------------------------------


@_frozen
class Vote:
    """A fast-leader-election notification.

    (leader, zxid, epoch) is the proposed leader with its last zxid and its
    current epoch; ``round`` is the sender's election round and ``state`` its
    role. A node that is not LOOKING answers a LOOKING sender with the vote it
    settled on, so latecomers can join an established leader.
    """

    leader: int
    zxid: int
    epoch: int
    round: int
    state: Role


# ---- discovery --------------------------------------------------------------------


@_frozen
class FollowerInfo:
    """A follower registers with the leader it elected (learner -> leader)."""

    accepted_epoch: int
    last_zxid: int
    attempt: int


@_frozen
class ObserverInfo:
    """An observer registers with a leader; it never counts in a quorum."""

    accepted_epoch: int
    last_zxid: int
    attempt: int


@_frozen
class NewEpoch:
    """The leader's new epoch (leader -> learner), ZooKeeper's LEADERINFO."""

    epoch: int
    attempt: int


LeaderInfo = NewEpoch


@_frozen
class AckEpoch:
    """The learner accepted ``epoch`` (persisted before sending) and reports its history.

    ``fresh`` is false when the learner had already accepted this epoch before
    (after a restart it cannot tell for whom), so the ack must not count
    toward the leader's discovery quorum.
    """

    epoch: int
    current_epoch: int
    last_zxid: int
    attempt: int
    fresh: bool


# ---- synchronisation ----------------------------------------------------------------


@_frozen
class Diff:
    """Your log up to ``zxid`` is a prefix of mine; the rest follows as Proposals."""

    epoch: int
    attempt: int
    zxid: int


@_frozen
class Trunc:
    """Drop your log after ``zxid``; the rest follows as Proposals.

    A learner that does not hold ``zxid`` itself truncates to its own last
    entry below it and registers again (everything it drops is absent from
    the leader's log, so it was never committed).
    """

    epoch: int
    attempt: int
    zxid: int


@_frozen
class Snap:
    """Replace your tree and log with the leader's tree at ``zxid``; the rest follows.

    The core leaves ``image`` empty: the leader's driver fills it with its
    tree's image when it sends the message, which is before it applies the
    same Ready's committed txns, so the tree is exactly at ``zxid``.
    """

    epoch: int
    attempt: int
    zxid: int
    image: TreeImage | None = None


@_frozen
class NewLeader:
    """End of the sync stream: the leader's log ended at ``zxid`` when it was sent."""

    epoch: int
    attempt: int
    zxid: int


@_frozen
class AckNewLeader:
    """The learner holds the leader's log through ``zxid`` durably and current epoch = epoch."""

    epoch: int
    attempt: int
    zxid: int


@_frozen
class UpToDate:
    """The leader is established; apply through ``committed`` and start serving."""

    epoch: int
    attempt: int
    committed: int


# ---- broadcast --------------------------------------------------------------------------


@_frozen
class Proposal:
    """Append ``txn``, which follows ``prev_zxid`` in the leader's log."""

    epoch: int
    prev_zxid: int
    txn: Txn


@_frozen
class Ack:
    """Cumulative: the follower holds the leader's log through ``zxid`` durably."""

    epoch: int
    zxid: int


@_frozen
class Commit:
    """Cumulative: everything through ``zxid`` is committed."""

    epoch: int
    zxid: int


@_frozen
class Inform:
    """A committed txn for an observer (it follows ``prev_zxid``)."""

    epoch: int
    prev_zxid: int
    txn: Txn


@_frozen
class Ping:
    """Leader heartbeat: its commit point, log end and read-index round, and the
    registration ``attempt`` it holds for this learner (a serving learner that
    sees another one re-registers: the leader lost track of it)."""

    epoch: int
    committed: int
    last_zxid: int
    round: int
    attempt: int = 0


@_frozen
class PingAck:
    """Learner heartbeat answer; carries the sessions its clients touched."""

    epoch: int
    round: int
    touches: tuple[int, ...] = ()


@_frozen
class Forward:
    """A write a learner's client sent; the leader's driver preps it (opaque here)."""

    epoch: int
    payload: Any


@_frozen
class ReadIndex:
    """A batch of linearizable reads waiting at a learner (opaque contexts)."""

    epoch: int
    ctxs: tuple[Any, ...]


@_frozen
class ReadIndexReply:
    """The reads in ``ctxs`` may be served once the learner applied through ``zxid``."""

    epoch: int
    ctxs: tuple[Any, ...]
    zxid: int


Message = (
    Vote
    | FollowerInfo
    | ObserverInfo
    | NewEpoch
    | AckEpoch
    | Diff
    | Trunc
    | Snap
    | NewLeader
    | AckNewLeader
    | UpToDate
    | Proposal
    | Ack
    | Commit
    | Inform
    | Ping
    | PingAck
    | Forward
    | ReadIndex
    | ReadIndexReply
)

LEADER_MESSAGES = (
    NewEpoch,
    Diff,
    Trunc,
    Snap,
    NewLeader,
    UpToDate,
    Proposal,
    Commit,
    Inform,
    Ping,
    ReadIndexReply,
)
LEARNER_MESSAGES = (
    FollowerInfo,
    ObserverInfo,
    AckEpoch,
    AckNewLeader,
    Ack,
    PingAck,
    Forward,
    ReadIndex,
)

# ---- local inputs ---------------------------------------------------------------------------


@_frozen
class Received:
    """A peer message arrived from ``sender`` (the link says who)."""

    sender: int
    message: Message


@_frozen
class Tick:
    """One tick of the driver's clock passed."""


@_frozen
class Persisted:
    """The storage work of every Ready up to the one with ``persist_mark == mark`` is durable."""

    mark: int


@_frozen
class Propose:
    """(Leader) make ``body`` the next txn; ``step`` returns its zxid or NotLeader."""

    body: TxnBody
    session_id: int
    xid: int
    time_ms: int


@_frozen
class ClientWrite:
    """(Learner) a client write to forward to the leader; NotLeader if there is none."""

    payload: Any


@_frozen
class ClientRead:
    """A linearizable read waiting for a read index; answered in ``Ready.read_states``."""

    ctx: Any


@_frozen
class Touched:
    """Clients of these sessions were heard from here; the leader hears of it on a ping."""

    session_ids: tuple[int, ...]


@_frozen
class LogPurged:
    """The driver purged the log through ``zxid`` (a snapshot there covers it)."""

    zxid: int


@_frozen
class PeerDisconnected:
    """The transport's link with ``peer`` broke (its process died, the connection reset).

    A hint that safety never depends on: a learner whose leader it names looks for
    a leader at once instead of waiting out ``sync_limit_ticks`` of silence
    (ZooKeeper's follower does the same when its socket to the leader
    breaks); every other node ignores it. A host that vanishes without
    closing its connections sends none, and the silence timeout still applies.
    """

    peer: int


Input = (
    Received
    | Tick
    | Persisted
    | Propose
    | ClientWrite
    | ClientRead
    | Touched
    | LogPurged
    | PeerDisconnected
)

# ---- rejections --------------------------------------------------------------------------------


@_frozen
class NotLeader:
    """A write or read this node cannot take now; ``leader`` is a hint (None: unknown)."""

    leader: int | None
