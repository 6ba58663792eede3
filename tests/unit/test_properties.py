"""Property tests (hypothesis) of the pure core: prep + overlay + apply, and paths.

A scenario is a random list of steps: writes from a few sessions, session
closes, reaping, and "apply the oldest k proposed txns". Writes are prepped
against the overlay while earlier txns are still unapplied, exactly as the
pipeline does. A shadow tree applies every txn the moment it is proposed, so
it is the state each decision must match. Two macro steps make rare races
likely: "churn" (an applied ephemeral deleted and re-created in flight, then
maybe its owner closes) and "wait" (time passes, so TTL nodes age).
"""

from __future__ import annotations

from collections import deque

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from coordsvc.errors import CoordError, InvalidPathError
from coordsvc.request.ops import Check, Create, Delete, Multi, MultiResult, SetData
from coordsvc.request.prep import NodeView, Overlay, prep_close_session, prep_reap, prep_write
from coordsvc.request.validate import Limits, validate
from coordsvc.tree.datatree import DataTree
from coordsvc.tree.paths import basename, is_ancestor, join, parent_of, validate_path
from coordsvc.tree.txn import CreateSessionTxn, MultiTxn, Txn, make_zxid

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SESSIONS = (1, 2, 3)
PATHS = ("/a", "/b", "/a/x", "/a/y", "/b/x", "/a/x/z")
SEQ_PREFIXES = ("/a/", "/b/q-", "/")

paths = st.sampled_from(PATHS)
versions = st.sampled_from((-1, -1, 0, 1, 2))
data = st.binary(max_size=3)
creates = st.one_of(
    st.builds(Create, paths, data),
    st.builds(Create, paths, data, ephemeral=st.just(True)),
    st.builds(Create, paths, data, container=st.just(True)),
    st.builds(Create, paths, data, ttl_ms=st.sampled_from((50, 500))),
    st.builds(
        Create,
        st.sampled_from(SEQ_PREFIXES),
        data,
        sequential=st.just(True),
        ephemeral=st.booleans(),
    ),
)
simple_ops = st.one_of(
    creates,
    st.builds(Delete, paths, versions),
    st.builds(SetData, paths, data, versions),
)
multi_ops = st.builds(
    lambda ops: Multi(tuple(ops)),
    st.lists(st.one_of(simple_ops, st.builds(Check, paths, versions)), min_size=1, max_size=3),
)
steps = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(SESSIONS), st.one_of(simple_ops, multi_ops)),
    st.tuples(
        st.just("delete_child"),
        st.sampled_from(SESSIONS),
        st.sampled_from(("/a", "/b", "/")),
        st.integers(0, 9),
    ),
    st.tuples(st.just("apply"), st.integers(0, 4)),
    st.tuples(st.just("close"), st.sampled_from(SESSIONS)),
    st.tuples(st.just("reap")),
)
scenarios = st.lists(steps, max_size=40)

# TTL and container nodes aging, touched and reaped while writes are in flight
T = st.sampled_from(("/t", "/t/k"))
reap_heavy = st.lists(
    st.one_of(
        st.tuples(
            st.just("write"),
            st.sampled_from(SESSIONS),
            st.one_of(
                st.builds(Create, T, ttl_ms=st.just(500)),
                st.builds(Create, T, container=st.just(True)),
                st.builds(SetData, T, data),
                st.builds(Delete, T),
            ),
        ),
        st.tuples(st.just("wait"), st.sampled_from((0, 1000))),
        st.tuples(st.just("apply"), st.integers(0, 3)),
        st.tuples(st.just("reap")),
    ),
    max_size=20,
)


def _view(tree: DataTree, path: str) -> NodeView | None:
    node = tree.get(path)
    if node is None:
        return None
    return NodeView(node.version, node.cversion, node.num_children, node.ephemeral_owner, node.kind)


class Model:
    """The leader's prep loop with apply delayed under the scenario's control."""

    def __init__(self) -> None:
        self.tree = DataTree()
        self.overlay = Overlay(self.tree)
        self.shadow = DataTree()  # the tree once every proposed txn applies
        self.log: list[Txn] = []
        self.pending: deque[Txn] = deque()
        self.closed: set[int] = set()
        self.now = 0
        self.sequence_names: list[tuple[str, int, str]] = []  # (parent, its czxid, name)
        self.close_mismatches: list[tuple[set[str], set[str]]] = []
        self.bad_reaps: list[str] = []  # reaped although not reapable once pending txns apply
        for sid in SESSIONS:
            self._propose(CreateSessionTxn(sid, 10_000, b""), {}, sid)
        self.apply(len(self.pending))

    def _propose(self, body, changes, sid: int) -> None:
        txn = Txn(make_zxid(1, len(self.log) + 1), self.now, sid, 0, body)
        self.overlay.record(changes, txn.zxid)
        self.shadow.apply(txn)  # raises InvariantViolation if prep decided wrongly
        self.log.append(txn)
        self.pending.append(txn)

    def apply(self, k: int) -> None:
        for _ in range(min(k, len(self.pending))):
            txn = self.pending.popleft()
            self.tree.apply(txn)
            self.overlay.applied(txn.zxid)

    def write(self, sid: int, op) -> None:
        if sid in self.closed:
            return  # the pipeline refuses requests of a closing session
        try:
            validate(op, Limits(), has_session=True)
            body, changes = prep_write(self.overlay, op, sid)
        except CoordError:
            return
        if isinstance(body, MultiResult):
            assert body.failed and changes == {}
            return
        self._propose(body, changes, sid)
        sub_ops = op.ops if isinstance(op, Multi) else (op,)
        sub_txns = body.txns if isinstance(body, MultiTxn) else (body,)
        for sub_op, sub_txn in zip(sub_ops, sub_txns, strict=True):
            if isinstance(sub_op, Create) and sub_op.sequential:
                parent = self.shadow.get(parent_of(sub_txn.path))
                czxid = parent.czxid if parent is not None else self.log[-1].zxid
                self.sequence_names.append((parent_of(sub_txn.path), czxid, sub_txn.path))

    def step(self, step: tuple) -> None:
        self.now += 100
        match step:
            case ("write", sid, op):
                self.write(sid, op)
            case ("delete_child", sid, parent, i):
                kids = self.shadow.children(parent) if parent in self.shadow else []
                if kids:
                    self.write(sid, Delete(join(parent, kids[i % len(kids)])))
            case ("apply", k):
                self.apply(k)
            case ("wait", ms):
                self.now += ms
            case ("churn", owner, other, path, ephemeral, close):
                # an applied ephemeral, then deleted and re-created while in flight
                self.write(owner, Create(path, ephemeral=True))
                self.apply(len(self.pending))
                self.write(owner, Delete(path))
                self.write(other, Create(path, ephemeral=ephemeral))
                if close:
                    self.step(("close", owner))
            case ("close", sid):
                if sid in self.closed:
                    return
                expected = set(self.shadow.ephemerals(sid))
                body, changes = prep_close_session(self.overlay, sid)
                if set(body.paths) != expected:
                    self.close_mismatches.append((set(body.paths), expected))
                self.closed.add(sid)
                self._propose(body, changes, sid)
            case ("reap",):
                for path in self.tree.reap_candidates(self.now):
                    decided = prep_reap(self.overlay, path)
                    if decided is not None:
                        if path not in self.shadow.reap_candidates(self.now):
                            self.bad_reaps.append(path)
                        self._propose(*decided, 0)
            case _:
                raise AssertionError(f"unknown step {step!r}")

    def check_overlay_matches_shadow(self) -> None:
        for path in {p for p, _ in self.shadow.items()} | set(PATHS):
            assert self.overlay.view(path) == _view(self.shadow, path), path


def run(scenario: list[tuple]) -> Model:
    model = Model()
    for step in scenario:
        model.step(step)
        model.check_overlay_matches_shadow()
    model.apply(len(model.pending))
    return model


@SETTINGS
@given(st.one_of(scenarios, reap_heavy))
def test_prep_with_delayed_apply_is_consistent_and_deterministic(scenario) -> None:
    model = run(scenario)  # any InvariantViolation fails the test
    assert len(model.overlay) == 0
    assert model.bad_reaps == []
    assert model.tree.signature() == model.shadow.signature()
    replayed = DataTree()
    for txn in model.log:
        replayed.apply(txn)
    assert replayed.signature() == model.tree.signature()
    assert replayed.ephemeral_count() == model.tree.ephemeral_count()
    assert replayed.reap_candidates(model.now) == model.tree.reap_candidates(model.now)
    for sid in model.closed:
        assert model.tree.ephemerals(sid) == frozenset() and sid not in model.tree.sessions
    for path, node in model.tree.items():
        if node.ephemeral_owner:
            assert node.ephemeral_owner in model.tree.sessions, path


# closes racing deletes and re-creates of the same few paths
EPH = st.sampled_from(("/e", "/f"))
close_heavy = st.lists(
    st.one_of(
        st.tuples(
            st.just("churn"),
            st.sampled_from(SESSIONS),
            st.sampled_from(SESSIONS),
            EPH,
            st.booleans(),
            st.booleans(),
        ),
        st.tuples(st.just("write"), st.sampled_from(SESSIONS), st.builds(Delete, EPH)),
        st.tuples(st.just("apply"), st.integers(0, 3)),
        st.tuples(st.just("close"), st.sampled_from(SESSIONS)),
    ),
    max_size=20,
)


@SETTINGS
@given(st.one_of(scenarios, close_heavy))
def test_close_session_lists_exactly_the_sessions_ephemerals(scenario) -> None:
    assert run(scenario).close_mismatches == []


seq_heavy = st.lists(
    st.one_of(
        st.tuples(
            st.just("write"),
            st.sampled_from(SESSIONS),
            st.builds(Create, st.sampled_from(SEQ_PREFIXES), sequential=st.just(True)),
        ),
        st.tuples(st.just("write"), st.sampled_from(SESSIONS), st.builds(Delete, paths)),
        st.tuples(st.just("write"), st.sampled_from(SESSIONS), st.builds(Create, paths)),
        st.tuples(
            st.just("delete_child"),
            st.sampled_from(SESSIONS),
            st.sampled_from(("/a", "/b", "/")),
            st.integers(0, 9),
        ),
        st.tuples(st.just("apply"), st.integers(0, 3)),
    ),
    max_size=60,
)


@SETTINGS
@given(st.one_of(scenarios, seq_heavy))
def test_sequence_names_never_repeat_under_a_parent(scenario) -> None:
    names = run(scenario).sequence_names
    by_parent: dict[tuple[str, int], list[int]] = {}
    for parent, czxid, path in names:
        digits = path[len(path) - 10 :]
        assert digits.isdigit() and len(path) >= 10
        by_parent.setdefault((parent, czxid), []).append(int(digits))
    for numbers in by_parent.values():
        assert numbers == sorted(set(numbers))  # distinct and increasing


path_text = st.one_of(
    st.text(),
    st.text(alphabet=st.sampled_from("/a.b\x00\x1f\u00e9\ud800\uf8ff\ufff0"), max_size=12),
    st.lists(st.sampled_from(["a", "b", ".", "..", "", "x.y"]), max_size=5).map(
        lambda parts: "/" + "/".join(parts)
    ),
)


@SETTINGS
@given(path_text, st.booleans())
@example("/a/", True)
@example("/", True)
@example("/a/..", False)
@example("/a/.", True)
def test_validate_path_returns_the_input_or_raises_with_it(path: str, sequential: bool) -> None:
    try:
        result = validate_path(path, sequential=sequential)
    except InvalidPathError as err:
        assert err.path == path
        return
    assert result is path
    if path != "/" and not path.endswith("/"):
        parent = parent_of(path)
        assert validate_path(parent) == parent
        assert join(parent, basename(path)) == path
        assert is_ancestor(parent, path) and not is_ancestor(path, parent)
