#!/usr/bin/env bash
# End-to-end run: cluster, images, prerequisites, the chart, then `pytest -m e2e`.
#
# Two backends (E2E_BACKEND): `kind` where docker and kind work (a laptop, GitHub Actions),
# and `local` everywhere else: a real single-node cluster built from the package registries
# (tests/localcluster, `python -m tests.localcluster --help`), which does the whole run itself
# and leaves the machine as it found it. Default: kind if `docker info` answers, else local.
# Where the local cluster cannot run (not root, not Linux, no cgroups, a missing package) the
# e2e tests are skipped with that reason, unless E2E_REQUIRED=1 (the default when CI is set).
#
#   scripts/e2e.sh [all]      everything below in order (what `make e2e` runs); local: all of it
#   scripts/e2e.sh local      the local backend's whole run
#   scripts/e2e.sh local-build  exit 0 when the e2e run will be local and root (scripts/test.sh
#                             then builds the cluster beside the non-e2e tests)
#   scripts/e2e.sh app-version  print the chart's appVersion (the image tag)
#   scripts/e2e.sh images     docker build both images (what `make images` runs)
#   scripts/e2e.sh cluster    create the kind cluster from kind-config.yaml, or reuse it
#   scripts/e2e.sh load       kind load the images into the cluster
#   scripts/e2e.sh prereqs    kube-prometheus-stack (+ kube-state-metrics), and KEDA for
#                             E2E_ENGINE=keda, from their public Helm repositories
#   scripts/e2e.sh install    the stand-in worker Deployment, the chart, and for
#                             prometheus-adapter the adapter with the chart's rule
#   scripts/e2e.sh test       pytest -m e2e tests/e2e against the installed stack
#   scripts/e2e.sh logs       collect diagnostics + `kind export logs` into .run/e2e/
#   scripts/e2e.sh down       delete the kind cluster
#
# Needs docker, kind (v0.33.x, see kind-config.yaml), and internet access on this machine:
# the prerequisites' charts and images and redis:7.2-alpine are pulled from their public
# registries. Environment: KIND_CLUSTER (default: `name` in kind-config.yaml; an existing
# cluster of that name is reused), E2E_NAMESPACE, E2E_RELEASE, E2E_ENGINE
# (prometheus-adapter|keda), MONITORING_NAMESPACE (kube-prometheus-stack, prometheus-adapter),
# KEDA_NAMESPACE, ADAPTER_VALUES, KPS_VERSION / ADAPTER_VERSION / KEDA_VERSION
# (chart versions; empty = latest), E2E_DELETE_CLUSTER=1 (delete a cluster this run created).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="$ROOT/.tools/bin:$ROOT/.venv/bin:$PATH"

if [ -z "${E2E_REQUIRED:-}" ] && [ -n "${CI:-}" ] && [ "${CI}" != false ]; then
    E2E_REQUIRED=1
fi
export E2E_REQUIRED
KIND_CONFIG=kind-config.yaml
KIND_CLUSTER=${KIND_CLUSTER:-$(sed -n 's/^name:[[:space:]]*//p' "$KIND_CONFIG")}
E2E_NAMESPACE=${E2E_NAMESPACE:-redis-queue-e2e}
E2E_RELEASE=${E2E_RELEASE:-redis-queue}
E2E_ENGINE=${E2E_ENGINE:-prometheus-adapter}
MONITORING_NAMESPACE=${MONITORING_NAMESPACE:-monitoring}
KEDA_NAMESPACE=${KEDA_NAMESPACE:-keda}
KPS_VERSION=${KPS_VERSION:-}
ADAPTER_VERSION=${ADAPTER_VERSION:-}
KEDA_VERSION=${KEDA_VERSION:-}
HELM=${HELM:-helm}
KUBECTL=${KUBECTL:-kubectl}
CHART=charts/redis-queue
VALUES=tests/e2e/values
ARTIFACTS=${E2E_ARTIFACTS:-.run/e2e}
CONTEXT="kind-$KIND_CLUSTER"
# The Prometheus kube-prometheus-stack runs (its Service prometheus-operated), for the adapter
# and KEDA's prometheus trigger.
PROMETHEUS_URL="http://prometheus-operated.$MONITORING_NAMESPACE.svc"
export KIND_CLUSTER E2E_NAMESPACE E2E_RELEASE E2E_ENGINE MONITORING_NAMESPACE HELM KUBECTL

log() { printf '[e2e %4ss] %s\n' "$SECONDS" "$*"; }
die() { printf 'e2e: %s\n' "$*" >&2; exit 1; }
kc() { "$KUBECTL" --context "$CONTEXT" "$@"; }
hc() { "$HELM" --kube-context "$CONTEXT" "$@"; }

app_version() {
    local v
    v=$(sed -nE 's/^appVersion:[[:space:]]*"?([^"[:space:]]+)"?.*/\1/p' "$CHART/Chart.yaml" 2>/dev/null || true)
    echo "${v:-0.1.0}"
}
image() { echo "ghcr.io/ai-agents/redis-queue-$1:$(app_version)"; }

need() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || die "$tool not found on PATH (see docs/e2e.md, 'Running them on kind')"
    done
}

have_docker() { command -v docker >/dev/null && docker info >/dev/null 2>&1; }

cmd_images() {
    if ! have_docker; then
        log "no docker daemon: buildah builds both images (tests/localcluster)"
        scripts/setup.sh cluster
        "$ROOT/.venv/bin/python" -m tests.localcluster images
        return
    fi
    local part
    for part in exporter operator; do
        log "docker build $(image "$part")"
        docker build --file "$part/Dockerfile" --tag "$(image "$part")" .
    done
}

cluster_exists() { kind get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER"; }

cmd_cluster() {
    need docker kind "$KUBECTL"
    docker info >/dev/null 2>&1 || die "docker daemon not reachable (is Docker running?)"
    if cluster_exists; then
        log "reusing kind cluster $KIND_CLUSTER"
    else
        log "creating kind cluster $KIND_CLUSTER from $KIND_CONFIG"
        kind create cluster --name "$KIND_CLUSTER" --config "$KIND_CONFIG" --wait 120s
        touch "$ARTIFACTS/.created-cluster"
    fi
    kc wait --for=condition=Ready nodes --all --timeout=180s
}

cmd_load() {
    need kind
    log "kind load $(image exporter) $(image operator)"
    kind load docker-image --name "$KIND_CLUSTER" "$(image exporter)" "$(image operator)"
}

# The chart renders its prometheus-adapter rule as values for the prometheus-adapter chart,
# in the ConfigMap "<fullname>-prometheus-adapter" (key values.yaml): install the adapter
# with exactly that, as a user following the chart's NOTES would.
adapter_rules_values() {
    if [ -n "${ADAPTER_VALUES:-}" ]; then
        echo "$ADAPTER_VALUES"
        return
    fi
    local cm out=$ARTIFACTS/prometheus-adapter-values.yaml
    cm=$(kc get configmap --namespace "$E2E_NAMESPACE" \
        --selector "app.kubernetes.io/instance=$E2E_RELEASE" -o name | grep -- '-prometheus-adapter$' | head -n 1)
    [ -n "$cm" ] || die "the chart rendered no *-prometheus-adapter ConfigMap; set ADAPTER_VALUES"
    kc get "$cm" --namespace "$E2E_NAMESPACE" -o jsonpath='{.data.values\.yaml}' >"$out"
    [ -s "$out" ] || die "$cm has no values.yaml"
    echo "$out"
}

version_flag() {
    if [ -n "$1" ]; then
        printf -- '--version=%s' "$1"
    fi
}

# The public chart repositories prereqs and install pull from; idempotent, once per run, so
# `scripts/e2e.sh install` works alone on a machine that never ran prereqs.
HELM_REPOS_READY=
helm_repos() {
    if [ -n "$HELM_REPOS_READY" ]; then
        return
    fi
    log "helm repositories (needs internet)"
    hc repo add prometheus-community https://prometheus-community.github.io/helm-charts --force-update >/dev/null
    if [ "$E2E_ENGINE" = keda ]; then
        hc repo add kedacore https://kedacore.github.io/charts --force-update >/dev/null
    fi
    hc repo update >/dev/null
    HELM_REPOS_READY=1
}

cmd_prereqs() {
    need "$HELM"
    helm_repos
    log "kube-prometheus-stack (Prometheus Operator, Prometheus, kube-state-metrics)"
    # shellcheck disable=SC2046
    hc upgrade --install kps prometheus-community/kube-prometheus-stack $(version_flag "$KPS_VERSION") \
        --namespace "$MONITORING_NAMESPACE" --create-namespace \
        --values "$VALUES/kube-prometheus-stack.yaml" --wait --timeout 10m
    case "$E2E_ENGINE" in
        prometheus-adapter) ;;  # installed after the chart, from the chart's own rule
        keda)
            log "KEDA"
            # shellcheck disable=SC2046
            hc upgrade --install keda kedacore/keda $(version_flag "$KEDA_VERSION") \
                --namespace "$KEDA_NAMESPACE" --create-namespace --wait --timeout 5m
            ;;
        *) die "E2E_ENGINE must be prometheus-adapter or keda, not $E2E_ENGINE" ;;
    esac
    hc list --all-namespaces
}

cmd_install() {
    need "$HELM" "$KUBECTL"
    kc create namespace "$E2E_NAMESPACE" --dry-run=client -o yaml | kc apply -f - >/dev/null
    # Every pod of the chart must pass the restricted Pod Security Standard (test_00).
    kc label --overwrite namespace "$E2E_NAMESPACE" pod-security.kubernetes.io/enforce=restricted >/dev/null
    log "stand-in worker Deployment"
    sed "s|@EXPORTER_IMAGE@|$(image exporter)|" tests/e2e/manifests/worker.yaml \
        | kc --namespace "$E2E_NAMESPACE" apply -f -
    log "helm upgrade --install $E2E_RELEASE $CHART (engine $E2E_ENGINE)"
    hc upgrade --install "$E2E_RELEASE" "$CHART" --namespace "$E2E_NAMESPACE" \
        --values "$VALUES/redis-queue.yaml" --set "autoscaling.engine=$E2E_ENGINE" \
        --set "autoscaling.keda.prometheus.serverAddress=$PROMETHEUS_URL:9090" \
        --set "autoscaling.keda.redisTrigger.kedaNamespace=$KEDA_NAMESPACE" \
        --wait --timeout 10m
    if [ "$E2E_ENGINE" = prometheus-adapter ]; then
        local rules
        mkdir -p "$ARTIFACTS"
        rules=$(adapter_rules_values)
        log "prometheus-adapter with the chart's rule ($rules)"
        helm_repos
        # shellcheck disable=SC2046
        hc upgrade --install prometheus-adapter prometheus-community/prometheus-adapter \
            $(version_flag "$ADAPTER_VERSION") --namespace "$MONITORING_NAMESPACE" \
            --values "$rules" --values "$VALUES/prometheus-adapter.yaml" \
            --set "prometheus.url=$PROMETHEUS_URL" \
            --wait --timeout 5m
    fi
    hc list --all-namespaces
}

cmd_test() {
    log "pytest -m e2e tests/e2e"
    # test_06 takes the other Helm major through a lifecycle.
    HELM3=${HELM3:-$ROOT/.tools/bin/helm3} E2E_REQUIRED=1 "$ROOT/.venv/bin/pytest" -p no:cacheprovider -m e2e -rs -v \
        --timeout 1800 tests/e2e
}

cmd_logs() {
    local out=$ARTIFACTS
    mkdir -p "$out"
    log "collecting diagnostics into $out"
    {
        kc get nodes -o wide
        kc get all,pvc,rqueue,hpa,pdb,networkpolicy,events --namespace "$E2E_NAMESPACE" -o wide
        kc describe rqueue,statefulset,pod,hpa --namespace "$E2E_NAMESPACE"
        kc get --raw "/apis/external.metrics.k8s.io/v1beta1" 2>&1
        kc get pods --namespace "$MONITORING_NAMESPACE" -o wide
    } >"$out/cluster.txt" 2>&1 || true
    local pod
    for pod in $(kc get pods --namespace "$E2E_NAMESPACE" -o name 2>/dev/null); do
        kc logs --namespace "$E2E_NAMESPACE" --all-containers --prefix "$pod" \
            >"$out/$(basename "$pod").log" 2>&1 || true
    done
    kind export logs "$out/kind" --name "$KIND_CLUSTER" >/dev/null 2>&1 || true
    log "diagnostics in $out (cluster.txt, pod logs, kind/ from kind export logs)"
}

cmd_down() {
    need kind
    kind delete cluster --name "$KIND_CLUSTER"
}

# The local backend: one Python command builds (or reuses) everything, brings the cluster up,
# installs the stack, runs the tests, collects logs on failure and tears it all down.
cmd_local() {
    local problem
    scripts/setup.sh cluster
    if ! problem=$("$ROOT/.venv/bin/python" -m tests.localcluster check); then
        [ "${E2E_REQUIRED:-0}" = 1 ] && die "E2E_REQUIRED is set but the local cluster cannot run: $problem"
        log "e2e tests skipped: $problem"
        E2E_BACKEND=local "$ROOT/.venv/bin/pytest" -p no:cacheprovider -m e2e -rs tests/e2e
        return
    fi
    "$ROOT/.venv/bin/python" -m tests.localcluster e2e
}

use_local() { [ "${E2E_BACKEND:-}" = local ] || { [ -z "${E2E_BACKEND:-}" ] && ! have_docker; }; }

# Exit 0 when this run's e2e is the local backend as root: scripts/test.sh then installs the
# cluster's packages first (some non-e2e tests use iptables and network namespaces too) and
# starts the cluster's build beside those tests.
cmd_local_build() { use_local && [ "$(id -u)" = 0 ]; }

cmd_all() {
    if use_local; then
        cmd_local
        return
    fi
    mkdir -p "$ARTIFACTS"
    rm -f "$ARTIFACTS/.created-cluster"
    trap on_exit EXIT
    cmd_images
    cmd_cluster
    cmd_load
    cmd_prereqs
    cmd_install
    cmd_test
}

on_exit() {
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        log "FAILED (exit $rc)"
        cmd_logs
    else
        log "passed"
    fi
    if [ "${E2E_DELETE_CLUSTER:-0}" = 1 ] && [ -f "$ARTIFACTS/.created-cluster" ]; then
        cmd_down
    else
        log "cluster $KIND_CLUSTER kept (scripts/e2e.sh down deletes it)"
    fi
    exit "$rc"
}

case "${1:-all}" in
    app-version) app_version ;;
    images) cmd_images ;;
    cluster) mkdir -p "$ARTIFACTS"; cmd_cluster ;;
    load) cmd_load ;;
    prereqs) cmd_prereqs ;;
    install) cmd_install ;;
    test) cmd_test ;;
    logs) cmd_logs ;;
    down) cmd_down ;;
    all) cmd_all ;;
    local) cmd_local ;;
    local-build) cmd_local_build ;;
    *) die "unknown command ${1}; see the header of $0" ;;
esac
