#!/usr/bin/env bash
# Profiles a running Hookbox under load with `perf record` (software cpu-clock sampling; this
# works where hardware counters are not available, e.g. in VMs) and prints the hottest symbols.
#
#   bench/profile.sh postgres|sqlite [SENDERS=16] [DUPLICATE_RATIO=0]
#
# Environment: BENCH_POSTGRES (as for run.sh), FREQ (sampling Hz, 999), PROF_SQL (extra SQL
# run on the fresh Postgres database, e.g. "ALTER DATABASE hookbox_prof SET
# synchronous_commit = off" to see the CPU side without the commit wait; for diagnosis only).
# Needs release binaries (bench/run.sh builds them) and perf (Debian: linux-perf).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
mode=${1:?postgres or sqlite}
senders=${2:-16}
dups=${3:-0}
PG_ADMIN=${BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}
SECRET="profile-secret-$(date +%s%N)"
WORK=$(mktemp -d /tmp/hookbox-profile.XXXXXX)
PORT=18085
DB_NAME=hookbox_prof
require_free_port "$PORT"

if [[ $mode == postgres ]]; then
    psql "$PG_ADMIN" -qAtX -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" -c "CREATE DATABASE $DB_NAME" >/dev/null
    [[ -n ${PROF_SQL:-} ]] && psql "$PG_ADMIN" -qAtX -c "$PROF_SQL" >/dev/null
    URL="${PG_ADMIN%/*}/$DB_NAME"
else
    URL="sqlite://$WORK/prof.db"
fi

target/release/hookbox serve --listen "127.0.0.1:$PORT" --database-url "$URL" \
    --webhook-secret "bench:$SECRET" --data-dir "$WORK" >"$WORK/server.log" 2>&1 &
SERVER=$!
cleanup() {
    kill -TERM "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
    grep 'callback writer stopped' "$WORK/server.log" | sed 's/.*drained//' || true
    [[ $mode == postgres ]] && psql "$PG_ADMIN" -qAtX -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
wait_ready "http://127.0.0.1:$PORT/readyz" "$WORK/server.log" "$SERVER"

target/release/hookbox-loadgen --url "http://127.0.0.1:$PORT/api/webhooks/llm-callback" \
    --secret "$SECRET" -c "$senders" --duration-secs 12 --warmup-secs 1 \
    --duplicate-ratio "$dups" --database-url "$URL" >"$WORK/loadgen.log" &
GEN=$!
sleep 2
perf record -F "${FREQ:-999}" -g -o "$WORK/perf.data" -p "$SERVER" -- sleep 8 2>/dev/null
wait "$GEN"
grep -E '^(requests|latency|check)' "$WORK/loadgen.log"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
perf report -i "$WORK/perf.data" --no-children --sort dso -g none 2>/dev/null | grep '%' | head -5
perf report -i "$WORK/perf.data" --no-children --sort symbol -g none 2>/dev/null | grep '%' | head -30 | cut -c1-120
