"""gRPC health of an ensemble member: SERVING only while its ZAB core is in broadcast.

The overall service ("") and coordsvc.v1.Coordination follow the ZAB phase;
coordsvc.v1.Admin stays SERVING whenever the process answers (liveness). A
member that loses its quorum goes back to looking and reports NOT_SERVING
until a quorum forms again.
"""

from __future__ import annotations

import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

DEADLINE_S = 30.0
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
FOLLOWS_ZAB = ("", "coordsvc.v1.Coordination")


def health(address: str) -> dict[str, int]:
    names = (*FOLLOWS_ZAB, "coordsvc.v1.Admin")
    with grpc.insecure_channel(address) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        return {
            n: stub.Check(health_pb2.HealthCheckRequest(service=n), timeout=5).status for n in names
        }


def wait_health(node, overall: int) -> dict[str, int]:
    """Poll until "" and Coordination report ``overall`` (the deadline bounds the wait)."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        got = health(node.address)
        if all(got[n] == overall for n in FOLLOWS_ZAB):
            return got
        assert time.monotonic() < deadline, f"node {node.id} health {got}, want {overall}"
        time.sleep(0.05)  # poll interval of a deadline-bounded wait


def test_health_is_serving_only_in_broadcast(ensemble_factory) -> None:
    ens = ensemble_factory(3)
    leader = ens.wait_leader()
    for node in ens.nodes.values():
        assert wait_health(node, SERVING)["coordsvc.v1.Admin"] == SERVING

    survivor = next(n for n in ens.nodes.values() if n is not leader)
    for node in ens.nodes.values():
        if node is not survivor:
            node.stop()  # by the PID it was started with
    got = wait_health(survivor, NOT_SERVING)  # no quorum: looking, not broadcast
    assert got["coordsvc.v1.Admin"] == SERVING
    status = survivor.status()
    assert status is not None and status.role == "looking", status

    leader.start()  # a quorum again: an election, then broadcast
    ens.wait_leader()
    for node in (survivor, leader):
        wait_health(node, SERVING)
