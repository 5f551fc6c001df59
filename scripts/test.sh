#!/usr/bin/env bash
# What `make test` runs: everything but e2e in TEST_WORKERS pytest-xdist workers, then the e2e
# suite (scripts/e2e.sh).
#
# On the local backend a machine's first run compiles the cluster's Go components for about
# half an hour of 2 cores. That build starts here first, in the background at the lowest CPU
# priority, so it takes what the non-e2e tests leave (they mostly wait on the processes they
# start); the e2e run waits for it, then finds its products in the cache. Where the run is not
# local, or the cluster cannot run here, the background step does nothing and the e2e run says
# why as before. Its log: .run/prebuild.log.
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
# setsid: the build gets a process group of its own (its id is $!), so one kill stops go too.
setsid nice -n 19 scripts/e2e.sh prebuild > .run/prebuild.log 2>&1 &
prebuild=$!

.venv/bin/pytest -p no:cacheprovider -m "not e2e" -n "${TEST_WORKERS:-3}" tests

# From here on the build is all that runs: back to normal priority (root may raise it again).
renice -n 0 -g "$prebuild" >/dev/null 2>&1 || true
if wait "$prebuild"; then
    tail -n 3 .run/prebuild.log
else
    echo "test: the background cluster build failed (.run/prebuild.log); the e2e run retries it and reports:" >&2
    tail -n 15 .run/prebuild.log >&2
fi
prebuild=
scripts/e2e.sh
