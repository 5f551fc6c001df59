#!/usr/bin/env bash
# `make clean-data`: delete data/, what `make run` (scripts/run-local.sh) keeps there: the
# queue's AOF (data/redis), Prometheus' TSDB (data/prometheus) and the logs (data/logs).
#
# Refuses while any process has data/ open (its working directory or a file in it): the
# Redis of `make run` runs in data/redis (redis-server chdirs to its --dir), Prometheus writes
# data/prometheus/tsdb. Deleting the AOF under a live Redis would lose every queued job when it
# restarts, while it goes on answering as if nothing happened.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=$PWD/data

log() { printf 'make clean-data: %s\n' "$*"; }

if [ ! -e "$DATA" ]; then
    log "nothing to delete: no data/"
    exit 0
fi

# "pid N (command)" for each process with data/ as its cwd or a file under it open.
holders() {
    if [ -d /proc/self/fd ]; then
        find /proc/[0-9]*/cwd /proc/[0-9]*/fd -maxdepth 1 \( -lname "$DATA" -o -lname "$DATA/*" \) \
            2>/dev/null | cut -d/ -f3 | sort -un
    elif command -v lsof >/dev/null; then
        lsof -t +D "$DATA" 2>/dev/null | sort -un
    else
        echo "unknown"
    fi
}

pids=$(holders || true)
if [ -n "$pids" ]; then
    if [ "$pids" = unknown ]; then
        log "refusing: cannot tell whether a process uses data/ (neither /proc nor lsof here)" >&2
        log "stop make run (Ctrl-C), then delete data/ by hand" >&2
        exit 1
    fi
    for pid in $pids; do
        command=$(cat "/proc/$pid/comm" 2>/dev/null || ps -o comm= -p "$pid" 2>/dev/null || echo "?")
        log "refusing: data/ is in use by pid $pid ($command)" >&2
    done
    log "is make run running? stop it (Ctrl-C in its terminal) and run make clean-data again" >&2
    exit 1
fi

size=$(du -sh "$DATA" 2>/dev/null | cut -f1)
log "deleting data/ (${size:-?}): the queue AOF with every job queued by make run (data/redis), Prometheus data (data/prometheus), logs (data/logs)"
rm -rf "$DATA"
log "deleted data/"
