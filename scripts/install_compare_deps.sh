#!/usr/bin/env bash
# Install the servers that scripts/bench_compare.py measures coordsvc against:
# Apache ZooKeeper and etcd, from Debian's packages. Run as root; safe to run
# again (a package already installed is left as it is).
#
# The Python client for ZooKeeper (kazoo) is the `compare` extra:
#   pip install -e '.[compare]'
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
packages=(zookeeper etcd-server)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -eq 0 ]; then
    echo "install_compare_deps: ${packages[*]} already installed"
    exit 0
fi

if ! apt-get install -y --no-install-recommends "${missing[@]}" </dev/null; then
    # The package lists may be missing or stale on a fresh machine.
    apt-get update </dev/null
    apt-get install -y --no-install-recommends "${missing[@]}" </dev/null
fi

# The packages may start system services; the benchmark runs its own servers
# on free loopback ports, so stop them if an init system started any.
for svc in zookeeper etcd; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
        systemctl stop "$svc" || true
    fi
done
echo "install_compare_deps: installed ${missing[*]}"
