#!/usr/bin/env bash
# Hookbox benchmark: Hookbox on Postgres and on SQLite, and the reference Node/Fastify receiver
# on Postgres, each driven by the same load generator at 1, 16 and 64 senders, in one run on
# one machine. Prints one table. See docs/performance.md.
#
#   bench/run.sh                 the full comparison
#   bench/run.sh soak [SECONDS]  Hookbox on Postgres at 64 senders for SECONDS (300), RSS,
#                                steal and checkpoints sampled every 5 s, latency per 30 s
#
# Environment: BENCH_POSTGRES (postgres://postgres@127.0.0.1:5432/postgres, an account that
# may create databases and run CHECKPOINT), DURATION (10 measured seconds per point), WARMUP
# (2), SENDERS ("1 16 64"), DUPLICATES (0.9: share of redeliveries in the extra duplicate points),
# CALLBACKS (pre-signed callbacks per point, 40,000 per second of warm-up and measurement: a
# point that uses them all up stops early and measures fewer seconds),
# SKIP_NODE=1 to leave the reference out, BENCH_NO_BUILD=1 to use the binaries already in
# target/release, BENCH_FIRST (random: which receiver is measured first at the first Postgres
# point, hookbox or node; the order then alternates point by point).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

PG_ADMIN=${BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
SENDERS=${SENDERS:-"1 16 64"}
DUPLICATES=${DUPLICATES:-0.9}
CALLBACKS=${CALLBACKS:-$((40000 * (DURATION + WARMUP)))}
SECRET="bench-secret-$(date +%s%N)"
PG_BASE=${PG_ADMIN%/*}
HOOKBOX_PORT=18080
NODE_PORT=18090
# A point measured right after the other receiver's came out lower more often than not
# (docs/performance.md, the family-26 VM of 2026-12-06), so no receiver should always be second
# at the same point: each run draws which one starts, and over runs each goes first at each
# point about equally often. The order is printed with the table.
case ${BENCH_FIRST:-random} in
    hookbox) FIRST_POINT_PARITY=0 ;;
    node) FIRST_POINT_PARITY=1 ;;
    random) FIRST_POINT_PARITY=$((RANDOM % 2)) ;;
    *)
        echo "BENCH_FIRST must be hookbox, node or random, not '$BENCH_FIRST'" >&2
        exit 2
        ;;
esac

WORK=$(mktemp -d /tmp/hookbox-bench.XXXXXX)
RESULTS="$WORK/results"
DATABASES=()
SERVERS=()   # every server started; the cleanup stops those still running
SERVER_PID="" # the one started last

cleanup() {
    local pid
    for pid in "${SERVERS[@]}"; do stop_server "$pid"; done
    drop_pg_databases "${DATABASES[@]}"
    rm -rf "$WORK"
}
trap cleanup EXIT

# Creates an empty database for one part of the run, registers it for the cleanup and sets
# BENCH_DB to its URL. Not to be called as $(…): the registration would happen in a subshell,
# be lost, and the database would be left behind.
fresh_pg_database() {
    local name="hookbox_bench_$1_$$"
    psql "$PG_ADMIN" -qAtX -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null
    psql "$PG_ADMIN" -qAtX -c "CREATE DATABASE $name" >/dev/null
    DATABASES+=("$name")
    BENCH_DB="$PG_BASE/$name"
}

load1() { cut -d' ' -f1 /proc/loadavg; }

# Machine-wide CPU time the hypervisor gave to other guests ("steal") and all CPU time so far,
# in jiffies: "steal total". On a shared host steal can take a fifth of the CPU for minutes,
# which changes a point's figures without any change in the receiver.
steal_jiffies() { awk '/^cpu / {total = 0; for (i = 2; i <= 9; i++) total += $i; print $9, total; exit}' /proc/stat; }

# Percent of the CPU time between two steal_jiffies readings that was stolen.
steal_percent() { # "steal total" before, "steal total" after
    local steal_before total_before steal_after total_after
    read -r steal_before total_before <<<"$1"
    read -r steal_after total_after <<<"$2"
    local total=$((total_after - total_before))
    echo $((total > 0 ? (steal_after - steal_before) * 100 / total : 0))
}

# Resident memory of a process and its children, in MiB: "peak current".
rss_mib() {
    local pids=("$1") peak=0 now=0 pid
    mapfile -t -O 1 pids < <(pgrep -P "$1" || true)
    for pid in "${pids[@]}"; do
        [[ -r /proc/$pid/status ]] || continue
        peak=$((peak + $(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")))
        now=$((now + $(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")))
    done
    echo "$((peak / 1024)) $((now / 1024))"
}

# CPU time (user+system) of a process and its children so far, in milliseconds.
cpu_ms() {
    local pids=("$1") ticks=0 pid
    mapfile -t -O 1 pids < <(pgrep -P "$1" || true)
    for pid in "${pids[@]}"; do
        [[ -r /proc/$pid/stat ]] || continue
        ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
    done
    echo $((ticks * 1000 / $(getconf CLK_TCK)))
}

start_hookbox() { # database-url log
    require_free_port "$HOOKBOX_PORT"
    RUST_LOG=${RUST_LOG:-info} target/release/hookbox serve --listen "127.0.0.1:$HOOKBOX_PORT" \
        --database-url "$1" --webhook-secret "bench:$SECRET" --data-dir "$WORK/data" \
        >"$2" 2>&1 &
    SERVER_PID=$!
    SERVERS+=("$SERVER_PID")
    wait_ready "http://127.0.0.1:$HOOKBOX_PORT/readyz" "$2" "$SERVER_PID"
}

start_node() { # database-url log
    require_free_port "$NODE_PORT"
    DATABASE_URL="$1" WEBHOOK_SECRET="$SECRET" PORT=$NODE_PORT \
        node bench/reference/server.js >"$2" 2>&1 &
    SERVER_PID=$!
    SERVERS+=("$SERVER_PID")
    # Fastify registers its routes before it listens: any answer means the receiver is ready.
    wait_ready "http://127.0.0.1:$NODE_PORT/api/webhooks/llm-callback" "$2" "$SERVER_PID"
}

stop_server() { # pid
    local child
    kill -0 "$1" 2>/dev/null || return 0
    for child in $(pgrep -P "$1" || true); do kill -TERM "$child" 2>/dev/null || true; done
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# Checkpoints Postgres has started so far (timed and requested), server-wide.
checkpoints() {
    psql "$PG_ADMIN" -qAtX -c "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter"
}

# One point of the table: the generator against the running server.
#
# Every point starts right after a CHECKPOINT. Without it a point inherited the WAL of the
# points before it, so whichever receiver had stored more rows earlier in the run met the
# checkpoint (and its data-file flush) in a later point. A checkpoint caused by the point's own
# WAL still lands in it; the `ckpt` column counts those (Postgres points only).
measure() { # name port database-url senders duplicate-ratio server-pid
    local name=$1 port=$2 db=$3 senders=$4 dups=$5 pid=$6 before after line ckpt_before ckpt="-"
    psql "$PG_ADMIN" -qAtX -c "CHECKPOINT" >/dev/null
    ckpt_before=$(checkpoints)
    before=$(cpu_ms "$pid")
    local load_before steal_before
    load_before=$(load1)
    steal_before=$(steal_jiffies)
    line=$(target/release/hookbox-loadgen --url "http://127.0.0.1:$port/api/webhooks/llm-callback" \
        --secret "$SECRET" -c "$senders" --duration-secs "$DURATION" --warmup-secs "$WARMUP" \
        --callbacks "$CALLBACKS" --duplicate-ratio "$dups" --database-url "$db" --label "$name" \
        | tee -a "$WORK/loadgen.log" | grep '^summary') || {
        echo "load generator failed; its output:" >&2
        cat "$WORK/loadgen.log" >&2
        exit 1
    }
    after=$(cpu_ms "$pid")
    [[ $db == postgres* ]] && ckpt=$(($(checkpoints) - ckpt_before))
    # shellcheck disable=SC2046
    echo "$line dups=$dups server_cpu_ms=$((after - before)) rss_mib=\"$(rss_mib "$pid")\" load=$load_before/$(load1) steal=$(steal_percent "$steal_before" "$(steal_jiffies)") ckpt=$ckpt" \
        | tee -a "$RESULTS" >&2
}

print_table() {
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
    printf '%-16s %7s %5s %9s %8s %8s %8s %8s %7s %9s %12s %11s %11s %6s %5s\n' \
        receiver senders dups 'req/s' p50_ms p90_ms p99_ms max_ms not_ok rows_check 'cpu_us/req' 'rss_peak/now' 'load1 b/a' steal% ckpt
    while read -r line; do
        local -A f=()
        for kv in $line; do [[ $kv == *=* ]] && f[${kv%%=*}]=${kv#*=}; done
        local rss=${line#*rss_mib=\"}
        rss=${rss%%\"*}
        local cpu_per=$(( ${f[requests]} > 0 ? ${f[server_cpu_ms]} * 1000 / ${f[requests]} : 0 ))
        printf '%-16s %7s %5s %9s %8s %8s %8s %8s %7s %9s %12s %11s %11s %6s %5s\n' \
            "${f[label]}" "${f[senders]}" "${f[dups]}" "${f[rps]}" "${f[p50_ms]}" "${f[p90_ms]}" \
            "${f[p99_ms]}" "${f[max_ms]}" "${f[not_ok]}" "${f[check]}" "$cpu_per" \
            "${rss// //} MiB" "${f[load]}" "${f[steal]}" "${f[ckpt]}"
    done < <(for receiver in hookbox-postgres hookbox-sqlite node-fastify-pg; do
        grep "label=$receiver " "$RESULTS" || true
    done)
    echo "(cpu_us/req: the receiver's own CPU time (all its processes; not the database's) over the"
    echo " whole point including warm-up, divided by measured requests; an upper bound."
    echo " steal%: share of the machine's CPU time the hypervisor gave to other guests during the point."
    echo " ckpt: Postgres checkpoints that started during the point; each point starts after one.)"
    if [[ -n $node_pid ]]; then
        echo "order: $([[ $FIRST_POINT_PARITY == 0 ]] && echo hookbox-postgres || echo node-fastify-pg)" \
            "measured first at the first Postgres point, then alternating point by point"
    fi
}

soak() {
    local seconds=${1:-300} db log
    fresh_pg_database soak
    db=$BENCH_DB
    log="$WORK/hookbox-soak.log"
    start_hookbox "$db" "$log"
    echo "soak: Hookbox on Postgres, 64 senders, $seconds s; every 5 s: RSS (MiB: peak current),"
    echo "load1, the CPU stolen since the last line, and Postgres checkpoints since the start;"
    echo "at the end the load generator's figures for every 30 s"
    local ckpt_start
    ckpt_start=$(checkpoints)
    target/release/hookbox-loadgen --url "http://127.0.0.1:$HOOKBOX_PORT/api/webhooks/llm-callback" \
        --secret "$SECRET" -c 64 --duration-secs "$seconds" --warmup-secs 0 --callbacks 100000 \
        --sign-beyond --interval-secs 30 --database-url "$db" --label soak >"$WORK/soak-loadgen.log" &
    local gen=$! start=$SECONDS steal_then steal_now
    steal_then=$(steal_jiffies)
    while kill -0 "$gen" 2>/dev/null; do
        steal_now=$(steal_jiffies)
        printf 't=%4ss rss=%s load1=%s steal=%s%% ckpt=%s\n' "$((SECONDS - start))" \
            "$(rss_mib "$SERVER_PID")" "$(load1)" "$(steal_percent "$steal_then" "$steal_now")" \
            "$(($(checkpoints) - ckpt_start))"
        steal_then=$steal_now
        sleep 5
    done
    wait "$gen" || echo "load generator reported a failure" >&2
    cat "$WORK/soak-loadgen.log"
    stop_server "$SERVER_PID"
    grep 'callback writer' "$log" || true
}

if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then
    echo "building release binaries…"
    cargo build --release --bins --quiet
fi

if [[ ${1:-} == soak ]]; then
    soak "${2:-300}"
    exit 0
fi

: >"$RESULTS"
echo "machine: $(nproc) cores; uptime: $(uptime)"

# On Postgres, Hookbox and the reference run side by side, each idle while the other is
# measured, and every point of one is followed at once by the same point of the other (which of
# the two goes first alternates). These VMs change speed from one minute to the next (Hookbox at
# 16 senders measured 13,000 to 20,100 req/s within an hour, same binary and script), so a ratio
# of two points seconds apart is less at the mercy of that drift than one of points minutes apart.
fresh_pg_database pg
hookbox_db=$BENCH_DB
start_hookbox "$hookbox_db" "$WORK/hookbox-pg.log"
hookbox_pid=$SERVER_PID
node_pid=""
if [[ ${SKIP_NODE:-0} != 1 ]]; then
    echo "installing the reference receiver (npm ci)…"
    (cd bench/reference && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    fresh_pg_database node
    node_db=$BENCH_DB
    start_node "$node_db" "$WORK/node.log"
    node_pid=$SERVER_PID
    require_same_callbacks_schema "$hookbox_db" "$node_db"
fi
points=$FIRST_POINT_PARITY
postgres_point() { # senders duplicate-ratio
    local hookbox=(hookbox-postgres "$HOOKBOX_PORT" "$hookbox_db" "$1" "$2" "$hookbox_pid")
    if [[ -z $node_pid ]]; then
        measure "${hookbox[@]}"
        return
    fi
    local node=(node-fastify-pg "$NODE_PORT" "$node_db" "$1" "$2" "$node_pid")
    if ((points++ % 2 == 0)); then
        measure "${hookbox[@]}"
        measure "${node[@]}"
    else
        measure "${node[@]}"
        measure "${hookbox[@]}"
    fi
}
for c in $SENDERS; do postgres_point "$c" 0; done
postgres_point 16 "$DUPLICATES"
stop_server "$hookbox_pid"
[[ -z $node_pid ]] || stop_server "$node_pid"
grep 'callback writer' "$WORK/hookbox-pg.log" >&2 || true

sqlite="sqlite://$WORK/bench.db"
start_hookbox "$sqlite" "$WORK/hookbox-sqlite.log"
for c in $SENDERS; do measure hookbox-sqlite "$HOOKBOX_PORT" "$sqlite" "$c" 0 "$SERVER_PID"; done
measure hookbox-sqlite "$HOOKBOX_PORT" "$sqlite" 16 "$DUPLICATES" "$SERVER_PID"
stop_server "$SERVER_PID"
grep 'callback writer' "$WORK/hookbox-sqlite.log" >&2 || true

print_table
echo "uptime after: $(uptime)"
