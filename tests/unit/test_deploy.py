"""deploy/: the manifests validate, agree with each other and with `coordsvc serve`.

Kubernetes manifests validate offline (kubernetes-validate, strict, pinned
to K8S_VERSION) and pass yamllint; the StatefulSet's entrypoint is run with
sh for each ordinal; the compose command lines parse as `coordsvc serve`
and start as local processes; the Dockerfile's install step is replayed;
the systemd unit's keys are checked and, where systemd-analyze exists,
verified.

Replication flags (--peer-listen, --peers, --observer) are in the manifests
before the server has them. Until it does, the tests drop exactly those
(and only those) flags where a parser or a process must accept the line.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import composerun
import grpc
import kubernetes_validate
import pytest
import yaml
from coordsvc.client import Client

from coordsvc.cli.config import apply_env_defaults, config_from_args, env_name
from coordsvc.cli.configfile import check_text
from coordsvc.cli.main import build_parser
from coordsvc.v1 import admin_pb2 as apb
from coordsvc.v1 import admin_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"
K8S_VERSION = "1.30.0"  # the oldest Kubernetes we promise; its schema ships with the package
REPLICATION_FLAGS = ("--peer-listen", "--peers")
REPLICATION_SWITCHES = ("--observer",)
ADDRESS_FLAGS = ("--listen", "--peer-listen", "--metrics-listen")


# ---- helpers ------------------------------------------------------------------


def serve_flags() -> set[str]:
    return {s for a in build_parser()[1]._actions for s in a.option_strings}


def runnable_today(argv: list[str]) -> tuple[list[str], set[str]]:
    """argv minus the replication flags the server does not know yet, and which were dropped."""
    known = serve_flags()
    missing = {f for f in (*REPLICATION_FLAGS, *REPLICATION_SWITCHES) if f not in known}
    present = {a.split("=", 1)[0] for a in argv} & missing
    flags = [f for f in REPLICATION_FLAGS if f in missing]
    switches = [f for f in REPLICATION_SWITCHES if f in missing]
    return composerun.drop_flags(argv, flags, switches), present


def parse_serve(argv: list[str]):
    """Parse ``coordsvc serve ...`` argv (without loading any --config file)."""
    assert argv[:2] == ["coordsvc", "serve"], argv
    parser, _ = build_parser()
    return parser.parse_args(argv[1:])


def manifests() -> dict[tuple[str, str], dict]:
    docs = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            docs[(doc["kind"], doc["metadata"]["name"])] = doc
    return docs


def statefulset() -> dict:
    return manifests()[("StatefulSet", "coordsvc")]


def container() -> dict:
    (c,) = statefulset()["spec"]["template"]["spec"]["containers"]
    return c


# ---- Kubernetes -------------------------------------------------------------------


def test_kustomization_lists_every_manifest() -> None:
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kust["resources"]) == files


@pytest.mark.parametrize("path", sorted(K8S.glob("*.yaml")), ids=lambda p: p.name)
def test_manifests_validate_offline(path: Path) -> None:
    if path.name == "kustomization.yaml":  # kustomize's own file: not an API object
        assert yaml.safe_load(path.read_text())["kind"] == "Kustomization"
        return
    for doc in yaml.safe_load_all(path.read_text()):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_validation_rejects_a_broken_statefulset() -> None:
    doc = statefulset()
    doc["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["grpc"]["prot"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_yamllint_passes_with_the_committed_config(tmp_path: Path) -> None:
    lint = [sys.executable, "-m", "yamllint", "-f", "parsable", "-c", str(DEPLOY / ".yamllint")]
    ok = subprocess.run([*lint, str(DEPLOY)], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: 1\na: 2\nb:   [1,2]\n")
    failed = subprocess.run([*lint, str(bad)], capture_output=True, text=True, timeout=60)
    assert failed.returncode != 0 and "duplication of key" in failed.stdout


def test_statefulset_is_a_quorum_friendly_ensemble_of_three() -> None:
    sts = statefulset()
    spec, pod = sts["spec"], sts["spec"]["template"]["spec"]
    c = container()
    assert spec["replicas"] == 3 and spec["podManagementPolicy"] == "Parallel"
    env = {e["name"]: e for e in c["env"]}
    assert env["COORDSVC_ENSEMBLE_SIZE"]["value"] == str(spec["replicas"])
    label = env["POD_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert label == "metadata.labels['apps.kubernetes.io/pod-index']"
    headless = manifests()[("Service", spec["serviceName"])]["spec"]
    assert headless["clusterIP"] == "None" and headless["publishNotReadyAddresses"] is True
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"grpc": 2181, "peer": 2888, "metrics": 9181}

    assert c["readinessProbe"]["grpc"] == {"port": ports["grpc"]}  # overall health: serving
    for probe in ("livenessProbe", "startupProbe"):  # the process answers
        assert c[probe]["grpc"] == {"port": ports["grpc"], "service": "coordsvc.v1.Admin"}

    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(c["resources"][kind]), kind
    psc, csc = pod["securityContext"], c["securityContext"]
    assert psc["runAsNonRoot"] is True and psc["runAsUser"] != 0 and psc["fsGroup"] != 0
    assert csc["readOnlyRootFilesystem"] is True and csc["allowPrivilegeEscalation"] is False
    assert csc["capabilities"]["drop"] == ["ALL"]

    (claim,) = spec["volumeClaimTemplates"]
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert (
        claim["metadata"]["name"] in mounts and "storage" in claim["spec"]["resources"]["requests"]
    )
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert ("ConfigMap", volumes["config"]["configMap"]["name"]) in manifests()


def test_services_and_pdb_select_the_pods() -> None:
    docs = manifests()
    labels = statefulset()["spec"]["template"]["metadata"]["labels"]
    for (kind, name), doc in docs.items():
        selector = doc["spec"].get("selector") if kind != "ConfigMap" else None
        if kind == "Service":
            assert selector.items() <= labels.items(), name
        if kind in ("StatefulSet", "PodDisruptionBudget"):
            assert selector["matchLabels"].items() <= labels.items(), name
    assert docs[("PodDisruptionBudget", "coordsvc")]["spec"]["maxUnavailable"] == 1
    client = docs[("Service", "coordsvc")]["spec"]
    assert client["type"] == "ClusterIP" and client["ports"][0]["port"] == 2181


def test_configmap_is_a_config_file_that_passes_config_check() -> None:
    data = manifests()[("ConfigMap", "coordsvc-config")]["data"]
    (name,) = data
    values, problems = check_text(data[name], build_parser()[1])
    assert problems == []
    mounts = {m["name"]: m["mountPath"] for m in container()["volumeMounts"]}
    assert values["data_dir"].startswith(mounts["data"] + "/")
    assert values["listen"].endswith(":2181") and values["metrics_listen"].endswith(":9181")
    annotations = statefulset()["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == values["metrics_listen"].rpartition(":")[2]


def fake_coordsvc(tmp_path: Path) -> Path:
    """A `coordsvc` on PATH that prints its arguments, one per line."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "coordsvc"
    exe.write_text('#!/bin/sh\nfor a in coordsvc "$@"; do printf "%s\\n" "$a"; done\n')
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return bin_dir


@pytest.mark.parametrize("ordinal", [0, 1, 2])
@pytest.mark.parametrize("from_label", [True, False], ids=["pod-index", "hostname"])
def test_entrypoint_derives_id_and_peers_from_the_ordinal(
    tmp_path: Path, ordinal: int, from_label: bool
) -> None:
    sts, c = statefulset(), container()
    assert c["command"] == ["/bin/sh", "-c"]
    env = {
        "PATH": f"{fake_coordsvc(tmp_path)}{os.pathsep}/usr/bin:/bin",
        "HOSTNAME": f"{sts['metadata']['name']}-{ordinal}",
        "POD_INDEX": str(ordinal) if from_label else "",
        "COORDSVC_ENSEMBLE_SIZE": str(sts["spec"]["replicas"]),
    }
    run = subprocess.run(
        ["/bin/sh", "-c", c["args"][0]], env=env, capture_output=True, text=True, timeout=30
    )
    assert run.returncode == 0, run.stderr
    argv = run.stdout.splitlines()
    values = dict(zip(argv, argv[1:], strict=False))
    assert values["--id"] == str(ordinal + 1)
    headless, name = sts["spec"]["serviceName"], sts["metadata"]["name"]
    assert values["--peers"] == ",".join(f"{i + 1}={name}-{i}.{headless}:2888" for i in range(3))
    assert values["--peer-listen"] == "0.0.0.0:2888"
    runnable, dropped = runnable_today(argv)
    assert dropped <= {"--peers", "--peer-listen"}
    args = parse_serve(runnable)
    config = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}["config"]
    data = manifests()[("ConfigMap", "coordsvc-config")]["data"]
    assert args.config == f"{config}/{next(iter(data))}"


# ---- compose -------------------------------------------------------------------------


def compose_lines() -> dict[str, list[str]]:
    return composerun.command_lines(composerun.load_compose())


def test_compose_runs_three_servers_that_know_each_other() -> None:
    compose = composerun.load_compose()
    lines = compose_lines()
    assert len(lines) == 3
    nodes = {s: composerun.NodeCommand(s, argv) for s, argv in lines.items()}
    assert sorted(n.flag("--id") for n in nodes.values()) == ["1", "2", "3"]
    peers = {n.flag("--peers") for n in nodes.values()}
    assert len(peers) == 1, "every server must be given the same --peers"
    expected = {
        f"{n.flag('--id')}={s}:{n.flag('--peer-listen').rpartition(':')[2]}"
        for s, n in nodes.items()
    }
    assert set(peers.pop().split(",")) == expected
    for service, node in nodes.items():
        spec = compose["services"][service]
        published = {p.rsplit(":", 1)[1] for p in spec["ports"]}
        for flag in ("--listen", "--metrics-listen"):
            assert node.flag(flag).rpartition(":")[2] in published, (service, flag)
        mounts = [v.split(":")[1] for v in spec["volumes"]]
        assert any(node.flag("--data-dir").startswith(m + "/") for m in mounts), service


def test_compose_command_lines_are_coordsvc_serve_invocations() -> None:
    for service, argv in compose_lines().items():
        runnable, dropped = runnable_today(argv)
        # Until replication lands the server has no --peers/--peer-listen:
        # those, and nothing else, are dropped here.
        assert dropped <= {"--peers", "--peer-listen"}, (service, dropped)
        args = parse_serve(runnable)
        assert str(args.id) == composerun.NodeCommand(service, argv).flag("--id")


def test_composerun_remaps_every_address_to_its_own_loopback_port(tmp_path: Path) -> None:
    nodes = composerun.remap(compose_lines(), tmp_path)
    seen: list[int] = []
    for node in nodes.values():
        assert node.argv[:3] == [sys.executable, "-m", "coordsvc"]
        assert node.data_dir == tmp_path / node.service
        for flag in ADDRESS_FLAGS:
            host, _, port = node.flag(flag).rpartition(":")
            assert host == "127.0.0.1"
            seen.append(int(port))
    assert len(seen) == len(set(seen)) == 9
    peer_ports = {n.flag("--id"): n.flag("--peer-listen") for n in nodes.values()}
    for node in nodes.values():
        entries = dict(e.split("=", 1) for e in node.flag("--peers").split(","))
        assert entries == peer_ports


def _wait_one_leader(addresses: list[str], timeout: float = 30.0) -> None:
    """Poll Admin.Status until the servers agree on exactly one leader."""
    deadline = time.monotonic() + timeout
    roles: list[str] = []
    while time.monotonic() < deadline:
        try:
            st = []
            for address in addresses:
                with grpc.insecure_channel(address) as channel:
                    stub = admin_pb2_grpc.AdminStub(channel)
                    st.append(stub.Status(apb.StatusRequest(), timeout=5))
            roles = sorted(s.role for s in st)
            if (
                roles == ["following", "following", "leading"]
                and len({s.leader_id for s in st}) == 1
            ):
                return
        except grpc.RpcError:
            pass
        time.sleep(0.05)  # poll interval of a deadline-bounded wait
    raise AssertionError(f"the compose ensemble elected no single leader: {roles}")


def test_compose_command_lines_start_as_local_servers(tmp_path: Path) -> None:
    nodes = composerun.remap(compose_lines(), tmp_path / "data")
    for node in nodes.values():
        node.argv, _ = runnable_today(node.argv)
    with composerun.LocalEnsemble(nodes, tmp_path / "logs") as ensemble:
        addresses = ensemble.start()
        for service, address in addresses.items():
            node = nodes[service]
            assert address == node.flag("--listen")
            with grpc.insecure_channel(address) as channel:
                status = admin_pb2_grpc.AdminStub(channel).Status(apb.StatusRequest(), timeout=10)
            assert str(status.server_id) == node.flag("--id")
            assert status.metrics_address == node.flag("--metrics-listen")
        _wait_one_leader(list(addresses.values()))
        _write_one_read_everywhere(list(addresses.values()))
        pids = {s: p.pid for s, p in ensemble.procs.items()}
        codes = ensemble.stop()
    assert len(set(pids.values())) == 3
    assert codes == {s: 0 for s in nodes}, {s: ensemble.log(s) for s in nodes}


def _write_one_read_everywhere(addresses: list[str]) -> None:
    """Create a node through the first server; sync then get it on each of the others."""
    first, *others = addresses
    with Client([first], session_timeout=6.0) as writer:
        writer.create("/compose-replicated", b"written-on-one")
    for address in others:
        with Client([address], session_timeout=6.0) as reader:
            reader.sync("/")
            data, st = reader.get("/compose-replicated")
            assert data == b"written-on-one", address
            assert st.czxid > 0


# ---- Dockerfile ------------------------------------------------------------------------


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """Instructions per stage, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    stages: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        op, _, rest = line.partition(" ")
        if op.upper() == "FROM":
            stages.append([])
        stages[-1].append((op.upper(), rest.strip()))
    return stages


def test_dockerfile_runs_as_non_root_on_a_slim_python() -> None:
    stages = dockerfile_stages()
    final = stages[-1]
    assert all(re.match(r"python:3\.1[1-9]-slim\b", s[0][1]) for s in stages)
    users = [arg for op, arg in final if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    ops = [op for op, _ in final]
    assert ops.index("USER") > max(i for i, op in enumerate(ops) if op == "RUN")
    assert any(op == "COPY" and arg.startswith("--from=build") for op, arg in final)
    cmd = next(arg for op, arg in final if op == "CMD")
    assert cmd.startswith('["coordsvc", "serve"')
    build = stages[0]
    assert any(op == "RUN" and re.search(r"pip install \.(\s|$)", arg) for op, arg in build)


def test_dockerfile_copies_enough_to_pip_install(tmp_path: Path) -> None:
    """Replay the build stage's COPY lines and its `pip install .` (as a wheel build)."""
    src = tmp_path / "src"
    src.mkdir()
    for op, arg in dockerfile_stages()[0]:
        if op != "COPY":
            continue
        *sources, dest = arg.split()
        for s in sources:
            # "COPY a b ./" copies into the directory; "COPY dir ./dir" names the target
            target = src / dest / Path(s).name if dest.endswith("/") else src / dest
            target.parent.mkdir(parents=True, exist_ok=True)
            if (ROOT / s).is_dir():
                shutil.copytree(ROOT / s, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(ROOT / s, target)
    out = tmp_path / "wheel"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = out.glob("coordsvc-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    # every module of the three source trees lands in the image, under coordsvc/
    for top, installed in (("coordsvc", "coordsvc"), ("client", "coordsvc/client")):
        for module in (ROOT / top).rglob("*.py"):
            assert f"{installed}/{module.relative_to(ROOT / top).as_posix()}" in names, module
    for module in (ROOT / "recipes").rglob("*.py"):
        assert f"coordsvc/recipes/{module.relative_to(ROOT / 'recipes').as_posix()}" in names


# ---- systemd ---------------------------------------------------------------------------

UNIT_KEYS = {
    "Unit": {"Description", "Documentation", "After", "Wants", "Requires"},
    "Service": {
        "Type", "User", "Group", "EnvironmentFile", "Environment", "ExecStart",
        "StateDirectory", "StateDirectoryMode", "KillSignal", "TimeoutStopSec", "Restart",
        "RestartSec", "RestartPreventExitStatus", "LimitNOFILE", "NoNewPrivileges",
        "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices", "ProtectKernelTunables",
        "ProtectKernelModules", "ProtectControlGroups", "RestrictAddressFamilies",
        "RestrictNamespaces", "LockPersonality", "CapabilityBoundingSet", "AmbientCapabilities",
    },
    "Install": {"WantedBy"},
}  # fmt: skip


def unit_entries(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) of a unit file, repeated keys kept in order."""
    entries, section = [], None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, sep, value = line.partition("=")
        assert sep and section, f"not a unit line: {line!r}"
        entries.append((section, key.strip(), value.strip()))
    return entries


def test_systemd_unit_keys() -> None:
    entries = unit_entries((DEPLOY / "systemd" / "coordsvc@.service").read_text())
    for section, key, _ in entries:
        assert key in UNIT_KEYS.get(section, ()), f"unexpected [{section}] {key}"
    values: dict[tuple[str, str], list[str]] = {}
    for section, key, value in entries:
        values.setdefault((section, key), []).append(value)
    exec_start = values[("Service", "ExecStart")][0].split()
    assert exec_start[0].startswith("/") and Path(exec_start[0]).name == "coordsvc"
    assert exec_start[1] == "serve" and exec_start[exec_start.index("--id") + 1] == "%i"
    assert values[("Service", "User")][0] not in ("root", "0")
    assert "/etc/coordsvc/coordsvc.env" in values[("Service", "EnvironmentFile")]
    assert values[("Service", "KillSignal")] == ["SIGTERM"]
    assert values[("Service", "Restart")] == ["on-failure"]
    assert values[("Install", "WantedBy")] == ["multi-user.target"]
    # --data-dir comes from StateDirectory=; the rest of the line parses as `coordsvc serve`
    argv = ["coordsvc", *exec_start[1:]]
    argv = [a.replace("%i", "2").replace("${STATE_DIRECTORY}", "/var/lib/coordsvc/2") for a in argv]
    assert parse_serve(argv).id == 2


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    """systemd's own checker where it exists; the key check above runs everywhere."""
    text = (DEPLOY / "systemd" / "coordsvc@.service").read_text()
    analyze = shutil.which("systemd-analyze")
    if analyze is None:  # no systemd here: the parsing test stands in for it
        assert unit_entries(text)
        return
    exe = Path(sys.executable).parent / "coordsvc"
    unit = tmp_path / "coordsvc@1.service"  # an instance: verify needs a concrete unit
    unit.write_text(text.replace("/usr/local/bin/coordsvc", str(exe)))
    run = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    complaints = [ln for ln in (run.stdout + run.stderr).splitlines() if unit.name in ln]
    assert run.returncode == 0 and complaints == [], run.stdout + run.stderr


def test_systemd_env_file_sets_serve_flags() -> None:
    env = {}
    for line in (DEPLOY / "systemd" / "coordsvc.env").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, line
            env[key] = value
    known = {env_name(f) for f in serve_flags() if f.startswith("--")}
    pending = {env_name(f) for f in (*REPLICATION_FLAGS, *REPLICATION_SWITCHES)}
    assert set(env) <= known | pending, set(env) - known - pending
    parser, serve = build_parser()
    apply_env_defaults(serve, env)
    cfg = config_from_args(parser.parse_args(["serve"]))
    assert cfg.listen == env["COORDSVC_LISTEN"] and cfg.tick_ms == int(env["COORDSVC_TICK_MS"])
    assert cfg.metrics_listen == env["COORDSVC_METRICS_LISTEN"]
