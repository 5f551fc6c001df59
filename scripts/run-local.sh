#!/usr/bin/env bash
# The local stack behind `make run`: redis-server (AOF, fsync every second, no eviction), the
# queue exporter and a Prometheus scraping it, all in the foreground of this shell and bound to
# 127.0.0.1. Ctrl-C (SIGINT) or SIGTERM stops the three of them and waits until they are gone.
#
# `make run` calls scripts/setup.sh first; running this script by hand needs the same tools on
# PATH (redis-server, redis-cli, prometheus) and the project's .venv.
#
# Overrides (environment):
#   RUN_REDIS_PORT       redis-server port                  (default 6379)
#   RUN_EXPORTER_PORT    queue-exporter port                (default 9808)
#   RUN_PROMETHEUS_PORT  Prometheus port                    (default 9090)
#   RUN_DATA_DIR         data dir: redis/, prometheus/, logs/ (default ./data, relative to the repo)
#   AI_AGENTS_QUEUES     queues the exporter watches        (default enhancement:queue,enhancement:dlq)
# shellcheck disable=SC2317  # readiness checks are called indirectly through wait_ready
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

REDIS_PORT=${RUN_REDIS_PORT:-6379}
EXPORTER_PORT=${RUN_EXPORTER_PORT:-9808}
PROMETHEUS_PORT=${RUN_PROMETHEUS_PORT:-9090}
DATA_DIR=${RUN_DATA_DIR:-data}
HOST=127.0.0.1
QUEUE=enhancement:queue
STOP_TIMEOUT=${RUN_STOP_TIMEOUT:-20}   # seconds a child gets after SIGTERM before SIGKILL
START_TIMEOUT=${RUN_START_TIMEOUT:-60} # seconds a child gets to become ready

log() { printf '[run] %s\n' "$*"; }
die() { printf '[run] error: %s\n' "$*" >&2; exit 1; }

for port_var in REDIS_PORT EXPORTER_PORT PROMETHEUS_PORT; do
    port=${!port_var}
    if ! [[ $port =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
        die "RUN_${port_var}=$port is not a TCP port (1-65535)"
    fi
done
[[ $DATA_DIR == /* ]] || DATA_DIR=$ROOT/$DATA_DIR

PY=$ROOT/.venv/bin/python
EXPORTER_BIN=$ROOT/.venv/bin/queue-exporter
QUEUECTL_BIN=$ROOT/.venv/bin/queuectl
for tool in redis-server redis-cli prometheus; do
    command -v "$tool" >/dev/null || die "$tool is not installed: run 'make setup' (or use 'make run')"
done
[ -x "$EXPORTER_BIN" ] || die "$EXPORTER_BIN is missing: run 'make setup' (or use 'make run')"

# --- ports -------------------------------------------------------------------------------------
port_in_use() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

taken=()
for entry in "redis:REDIS_PORT" "exporter:EXPORTER_PORT" "prometheus:PROMETHEUS_PORT"; do
    name=${entry%%:*}
    var=${entry#*:}
    port=${!var}
    if port_in_use "$port"; then
        owner=""
        if command -v ss >/dev/null; then
            owner=$(ss -Htlnp "sport = :$port" 2>/dev/null | grep -o 'users:(([^)]*))' | head -1 || true)
        fi
        taken+=("port $port ($name) is already in use on $HOST${owner:+ by $owner}; free it or set RUN_${var}=<port>")
    fi
done
if ((${#taken[@]})); then
    for line in "${taken[@]}"; do printf '[run] error: %s\n' "$line" >&2; done
    printf '[run] hint: a system redis/prometheus service may be running: systemctl stop redis-server prometheus\n' >&2
    exit 1
fi

# --- children and shutdown ---------------------------------------------------------------------
REDIS_PID=""
EXPORTER_PID=""
PROMETHEUS_PID=""
STOPPING=0

# Stop children in reverse order of need: Prometheus and the exporter first, Redis last, so the
# exporter does not log a spurious outage and Redis flushes its AOF on a clean SIGTERM.
stop_pids() {
    local pids=() pid deadline
    for pid in "$@"; do
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && pids+=("$pid")
    done
    ((${#pids[@]})) || return 0
    kill -TERM "${pids[@]}" 2>/dev/null || true
    deadline=$((SECONDS + STOP_TIMEOUT))
    for pid in "${pids[@]}"; do
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            log "pid $pid did not stop within ${STOP_TIMEOUT}s, sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
}

shutdown() {
    local code=$1
    trap - INT TERM EXIT
    if ((STOPPING == 0)); then
        STOPPING=1
        log "stopping prometheus, exporter and redis-server ..."
        stop_pids "$PROMETHEUS_PID" "$EXPORTER_PID"
        stop_pids "$REDIS_PID"
        log "stopped"
    fi
    exit "$code"
}
trap 'shutdown 0' INT TERM
trap 'shutdown $?' EXIT

# A child that exits during start-up is a failure worth its log tail, not a timeout.
wait_ready() {
    local name=$1 pid=$2 logfile=$3 check=$4 deadline=$((SECONDS + START_TIMEOUT))
    until "$check"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            printf '[run] error: %s exited during start-up; last lines of %s:\n' "$name" "$logfile" >&2
            tail -n 20 "$logfile" >&2 || true
            exit 1
        fi
        ((SECONDS < deadline)) || { printf '[run] error: %s not ready after %ss (log: %s)\n' "$name" "$START_TIMEOUT" "$logfile" >&2; exit 1; }
        sleep 0.1
    done
}

http_status() { # URL -> HTTP status code, 000 when nothing answers
    if command -v curl >/dev/null; then
        curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" || true
    else
        "$PY" - "$1" <<'PYEOF' || echo 000
import sys, urllib.error, urllib.request
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=2).status)
except urllib.error.HTTPError as e:
    print(e.code)
except OSError:
    print("000")
PYEOF
    fi
}

mkdir -p "$DATA_DIR/redis" "$DATA_DIR/prometheus" "$DATA_DIR/logs"
LOG_DIR=$DATA_DIR/logs

# --- redis-server ------------------------------------------------------------------------------
# AOF is the durability: every acknowledged LPUSH is in appendonly files, fsynced each second
# (at most ~1 s of acknowledged jobs lost on a machine crash; a process crash loses nothing).
# noeviction: with memory full, Redis refuses writes instead of deleting queued jobs.
# RDB snapshots are off so there is one persistence mechanism to reason about.
redis-server \
    --bind "$HOST" --port "$REDIS_PORT" --protected-mode yes \
    --dir "$DATA_DIR/redis" \
    --appendonly yes --appendfsync everysec \
    --maxmemory-policy noeviction \
    --save "" \
    --daemonize no \
    --logfile "$LOG_DIR/redis.log" &
REDIS_PID=$!
redis_ready() { [ "$(redis-cli -h "$HOST" -p "$REDIS_PORT" PING 2>/dev/null)" = PONG ]; }
wait_ready redis-server "$REDIS_PID" "$LOG_DIR/redis.log" redis_ready
log "redis-server up (pid $REDIS_PID, port $REDIS_PORT, data $DATA_DIR/redis)"

# --- exporter ----------------------------------------------------------------------------------
AI_AGENTS_REDIS_URL="redis://$HOST:$REDIS_PORT/0" \
    AI_AGENTS_EXPORTER_HOST=$HOST \
    AI_AGENTS_EXPORTER_PORT=$EXPORTER_PORT \
    "$EXPORTER_BIN" >"$LOG_DIR/exporter.log" 2>&1 &
EXPORTER_PID=$!
exporter_ready() { [ "$(http_status "http://$HOST:$EXPORTER_PORT/health/ready")" = 200 ]; }
wait_ready queue-exporter "$EXPORTER_PID" "$LOG_DIR/exporter.log" exporter_ready
log "queue-exporter up (pid $EXPORTER_PID, port $EXPORTER_PORT)"

# --- prometheus --------------------------------------------------------------------------------
# The repo's config, with the exporter target moved when RUN_EXPORTER_PORT is not the default.
PROM_CONFIG=$DATA_DIR/prometheus/prometheus.yml
sed "s/127\.0\.0\.1:9808/$HOST:$EXPORTER_PORT/" deploy/prometheus/prometheus.yml >"$PROM_CONFIG"
cp deploy/prometheus/redis-queue.rules.yaml "$DATA_DIR/prometheus/"
prometheus \
    --config.file="$PROM_CONFIG" \
    --storage.tsdb.path="$DATA_DIR/prometheus/tsdb" \
    --web.listen-address="$HOST:$PROMETHEUS_PORT" \
    >"$LOG_DIR/prometheus.log" 2>&1 &
PROMETHEUS_PID=$!
prometheus_ready() { [ "$(http_status "http://$HOST:$PROMETHEUS_PORT/-/ready")" = 200 ]; }
wait_ready prometheus "$PROMETHEUS_PID" "$LOG_DIR/prometheus.log" prometheus_ready
log "prometheus up (pid $PROMETHEUS_PID, port $PROMETHEUS_PORT)"

# --- what to do with it ------------------------------------------------------------------------
RCLI="redis-cli -p $REDIS_PORT"
[ "$REDIS_PORT" = 6379 ] && RCLI="redis-cli"
QCTL=".venv/bin/queuectl"
[ -x "$QUEUECTL_BIN" ] || QCTL="queuectl"
[ "$REDIS_PORT" = 6379 ] || QCTL="AI_AGENTS_REDIS_URL=redis://$HOST:$REDIS_PORT/0 $QCTL"
cat <<EOF

Local stack is running. Ctrl-C stops everything.

  Exporter metrics   http://$HOST:$EXPORTER_PORT/metrics
  Exporter health    http://$HOST:$EXPORTER_PORT/health/ready   (live: /health/live)
  Prometheus UI      http://$HOST:$PROMETHEUS_PORT/
  Queue depth graph  http://$HOST:$PROMETHEUS_PORT/graph?g0.expr=redis_queue_depth&g0.tab=0&g0.range_input=15m
  Query API          http://$HOST:$PROMETHEUS_PORT/api/v1/query?query=redis_queue_depth
  Logs               $LOG_DIR/{redis,exporter,prometheus}.log
  Data               $DATA_DIR/redis (AOF), $DATA_DIR/prometheus

Push a job:
  $QCTL push --queue $QUEUE '{"tenant_id": "t1", "ticket_id": "T-1", "description": "try me", "priority": "normal"}'

Watch the queue with redis-cli:
EOF
while IFS='|' read -r cmd what; do
    printf '  %-46s # %s\n' "$RCLI $cmd" "$what"
done <<EOF
LLEN $QUEUE|depth
LRANGE $QUEUE -10 -1|the next 10 jobs (last line = next to be processed)
LINDEX $QUEUE -1|next job a worker will take (the BRPOP end)
INFO persistence|aof_enabled, aof_last_write_status, aof_rewrite_in_progress
INFO memory|used_memory_human, maxmemory_policy
MEMORY USAGE $QUEUE|bytes held by the queue
SLOWLOG GET 10|the 10 most recent slow commands
EOF
echo

# Wait for Ctrl-C / SIGTERM (the trap) or for a child to die on its own, which stops the rest.
set +e
wait -n "$REDIS_PID" "$EXPORTER_PID" "$PROMETHEUS_PID"
code=$?
set -e
for entry in "redis-server:$REDIS_PID:redis" "queue-exporter:$EXPORTER_PID:exporter" "prometheus:$PROMETHEUS_PID:prometheus"; do
    IFS=: read -r name pid file <<<"$entry"
    kill -0 "$pid" 2>/dev/null || log "$name (pid $pid) exited unexpectedly (code $code); see $LOG_DIR/$file.log"
done
shutdown 1
