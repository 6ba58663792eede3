#!/usr/bin/env bash
# Install the system tools the test suite needs beyond Python: ip (iproute2)
# and nft (nftables), with which tests/faults builds network namespaces and
# injects real packet loss and partitions; and Apache ZooKeeper's Java client
# (libzookeeper-java, with a JDK if javac is missing), which
# tests/integration/test_zk_java.py runs against the ZooKeeper port. Safe to
# run again; does nothing when all are present. Needs root to install (the
# fault tests need root anyway); without root it says what is missing.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
missing=()
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v nft >/dev/null 2>&1 || missing+=(nftables)
[ -f /usr/share/java/zookeeper.jar ] || missing+=(libzookeeper-java)
command -v javac >/dev/null 2>&1 || missing+=(default-jdk-headless)
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install_test_deps: not root; install ${missing[*]} for tests/faults and the Java client test" >&2
    exit 0
fi
if ! apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null; then
    # The package lists may be missing or stale on a fresh machine.
    apt-get update -q </dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
fi
