#!/usr/bin/env bash
# What `make test` runs (after `make tools`): `make lint`, everything but e2e in TEST_WORKERS
# pytest-xdist workers, then the e2e suite (scripts/e2e.sh).
#
# On the local backend a machine's first run compiles the cluster's Go components for about
# half an hour of 2 cores. That build starts here first, in the background at the lowest CPU
# priority, so it takes what the lint and the non-e2e tests leave (the tests mostly wait on the
# processes they start); the e2e run waits for it, then finds its products in the cache. KEDA
# is left out of it (it only downloads KEDA's modules): only the e2e run's second phase runs
# KEDA, so the e2e run builds it beside the cluster's start and the first phase. Only
# where the e2e run is the local backend as root; where the cluster cannot run, the background
# step builds nothing and the e2e run says why as before. Its log: .run/prebuild.log.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .run

prebuild=
stop_prebuild() {
    [ -n "$prebuild" ] || return 0
    kill -TERM -- "-$prebuild" 2>/dev/null || true
    wait "$prebuild" 2>/dev/null || true
}
trap stop_prebuild EXIT
trap 'exit 130' INT TERM
if scripts/e2e.sh local-build; then
    # In the foreground: tests/integration/localcluster uses iptables and network namespaces,
    # and must not see packages appear while it compares the machine before and after.
    scripts/setup.sh cluster
    # setsid: the build gets a process group of its own (its id is $!): one kill stops go too.
    setsid nice -n 19 .venv/bin/python -m tests.localcluster prebuild > .run/prebuild.log 2>&1 &
    prebuild=$!
    echo "test: the local cluster's build runs beside the tests (nice 19; log .run/prebuild.log)"
fi

"${MAKE:-make}" --no-print-directory lint
.venv/bin/pytest -p no:cacheprovider -m "not e2e" -n "${TEST_WORKERS:-3}" tests

if [ -n "$prebuild" ]; then
    # From here on the build is all that runs: back to normal priority (root may raise it).
    renice -n 0 -g "$prebuild" >/dev/null 2>&1 || true
    if wait "$prebuild"; then
        tail -n 3 .run/prebuild.log
    else
        echo "test: the background cluster build failed (.run/prebuild.log); the e2e run retries it and reports:" >&2
        tail -n 15 .run/prebuild.log >&2
    fi
    prebuild=
fi
scripts/e2e.sh
