"""coordsvc.recipes: locks, elections and the rest of the ZooKeeper catalogue.

Every recipe comes twice, with kazoo's constructor: ``Lock(client, path,
identifier=None)`` over the blocking ``Client``, and ``AsyncLock(...)`` with
the same arguments over the ``AsyncClient``. The logic exists once, in the
async form; the sync form runs it on the Client's own event loop.

Shared rules:

- Contenders are ephemeral sequential children of the recipe's path, named
  with a GUID, so a create that lost its connection finds its node again
  instead of leaving a second one behind.
- Each waiter watches only the node that can release it (no herd).
- A SUSPENDED connection makes a lock or leadership unsafe (``is_safe`` is
  False, listeners are told); a LOST session ends everything the recipe
  held (the lease's ``lost`` event is set).
- Locks and leaderships carry a fencing token (the holder node's czxid,
  strictly increasing from holder to holder); ``TokenGuard`` lets a resource
  refuse stale ones.
"""

from coordsvc.recipes._lease import Lease, SyncLease
from coordsvc.recipes._protocol import CoordClient
from coordsvc.recipes.barrier import AsyncBarrier, AsyncDoubleBarrier, Barrier, DoubleBarrier
from coordsvc.recipes.counter import AsyncCounter, Counter
from coordsvc.recipes.election import (
    AsyncElection,
    Election,
    Leadership,
    SyncLeadership,
)
from coordsvc.recipes.fencing import StaleTokenError, TokenGuard
from coordsvc.recipes.latch import AsyncLeaderLatch, LeaderLatch
from coordsvc.recipes.lock import AsyncLock, Lock
from coordsvc.recipes.party import AsyncParty, AsyncShallowParty, Party, ShallowParty
from coordsvc.recipes.queue import AsyncLockingQueue, AsyncQueue, LockingQueue, Queue
from coordsvc.recipes.registry import AsyncServiceRegistry, ServiceRegistry
from coordsvc.recipes.rwlock import AsyncReadLock, AsyncWriteLock, ReadLock, WriteLock
from coordsvc.recipes.semaphore import AsyncSemaphore, Semaphore
from coordsvc.recipes.treecache import (
    AsyncTreeCache,
    NodeData,
    TreeCache,
    TreeEvent,
    TreeEventType,
)
from coordsvc.recipes.twophase import AsyncTwoPhaseCommit, Outcome, TwoPhaseCommit
from coordsvc.recipes.watchers import AsyncChildrenWatch, AsyncDataWatch, ChildrenWatch, DataWatch

__all__ = [
    "AsyncBarrier",
    "AsyncChildrenWatch",
    "AsyncCounter",
    "AsyncDataWatch",
    "AsyncDoubleBarrier",
    "AsyncElection",
    "AsyncLeaderLatch",
    "AsyncLock",
    "AsyncLockingQueue",
    "AsyncParty",
    "AsyncQueue",
    "AsyncReadLock",
    "AsyncSemaphore",
    "AsyncServiceRegistry",
    "AsyncShallowParty",
    "AsyncTreeCache",
    "AsyncTwoPhaseCommit",
    "AsyncWriteLock",
    "Barrier",
    "ChildrenWatch",
    "CoordClient",
    "Counter",
    "DataWatch",
    "DoubleBarrier",
    "Election",
    "LeaderLatch",
    "Leadership",
    "Lease",
    "Lock",
    "LockingQueue",
    "NodeData",
    "Outcome",
    "Party",
    "Queue",
    "ReadLock",
    "Semaphore",
    "ServiceRegistry",
    "ShallowParty",
    "StaleTokenError",
    "SyncLeadership",
    "SyncLease",
    "TokenGuard",
    "TreeCache",
    "TreeEvent",
    "TreeEventType",
    "TwoPhaseCommit",
    "WriteLock",
]
