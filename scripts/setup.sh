#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine, and nothing that is already there:
# apt packages and the virtual environment in .venv (helm comes from scripts/install-helm.sh,
# which only the test targets need). Idempotent, so every make target can call it cheaply.
#
#   scripts/setup.sh           what `make run` and the tests need
#   scripts/setup.sh cluster   also the local test cluster's packages (tests/localcluster):
#                              container runtime, CNI, buildah, the OCI registry, debootstrap, Go
set -euo pipefail
cd "$(dirname "$0")/.."

# python3-venv: Debian's python3 has no ensurepip without it, so `python -m venv` would fail.
# docker-compose (Debian's 1.x): tests/unit/test_compose.py runs its `config`, which needs no
# Docker engine (--no-install-recommends keeps docker.io out).
APT_PACKAGES=(redis-server redis-tools prometheus prometheus-redis-exporter unzip python3 python3-venv
    docker-compose)
if [ "${1:-}" = cluster ]; then
    # Go itself is not among them: Debian's 1.19 is too old for the cluster's modules
    # (cluster/go needs >= 1.26, see `python -m tests.localcluster check`).
    APT_PACKAGES+=(containerd runc containernetworking-plugins buildah docker-registry debootstrap
        iptables iproute2 util-linux openssl curl ca-certificates)
fi

log() { printf '[setup] %s\n' "$*"; }

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    log "installing apt packages: ${missing[*]}"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "setup: need root or sudo to apt-get install ${missing[*]}" >&2; exit 1; }
        SUDO="sudo"
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    # --no-install-recommends: the prometheus package would otherwise pull a web UI build chain.
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Debian starts these as system services; the project runs its own instances on its own
    # ports, so the system ones are stopped to keep port 6379/9090 free and the machine quiet.
    for svc in redis-server prometheus prometheus-redis-exporter prometheus-node-exporter \
        containerd docker-registry; do
        $SUDO systemctl stop "$svc" >/dev/null 2>&1 || $SUDO service "$svc" stop >/dev/null 2>&1 || true
    done
fi

PYTHON=${PYTHON:-}
if [ -z "$PYTHON" ]; then
    for candidate in python3 python3.13 python3.12 python3.11; do
        # pyenv puts shims for versions it does not have on PATH, so ask the interpreter itself.
        if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then
            PYTHON=$candidate; break
        fi
    done
fi
[ -n "$PYTHON" ] || { echo "setup: Python >= 3.11 is required" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
    log "creating .venv with $PYTHON"
    "$PYTHON" -m venv .venv || {
        echo "setup: 'python -m venv' failed; on Debian: apt-get install python3-venv" >&2; exit 1; }
fi
stamp=.venv/.installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
    log "installing the project into .venv"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -c constraints.txt -e ".[exporter,operator,test]"
    touch "$stamp"
fi

log "ready"
