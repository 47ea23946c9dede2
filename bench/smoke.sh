#!/usr/bin/env bash
# Checks that the benchmark scripts work end to end, in about a minute, without measuring
# anything worth quoting: bench/run.sh with one-second points, its soak for a few seconds, and
# the guard that refuses a reference whose `callbacks` table differs from Hookbox's. CI runs it
# (.ci/run); it needs what bench/run.sh needs (Postgres, Node.js 20+ and npm, cargo).
#
# What it proves about bench/run.sh: it exits 0 and prints every row of its table with the
# row check passed and no failed request; Hookbox on Postgres and the Node reference are
# measured point by point (each Postgres point of one followed at once by the same point of
# the other, which goes first alternating, starting with the one BENCH_FIRST names); afterwards
# no server listens on its ports and none of its databases is left. Environment: BENCH_POSTGRES
# as for run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

PG_ADMIN=${BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}
PG_BASE=${PG_ADMIN%/*}
WORK=$(mktemp -d /tmp/hookbox-bench-smoke.XXXXXX)
GUARD_DATABASES=(hookbox_smoke_ours_$$ hookbox_smoke_theirs_$$ hookbox_smoke_empty_$$)

cleanup() {
    drop_pg_databases "${GUARD_DATABASES[@]}"
    rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
    echo "bench smoke: FAILED: $*" >&2
    exit 1
}

command -v node >/dev/null || fail "node is missing (bench/run.sh starts the Node reference)"

bench_databases() {
    psql "$PG_ADMIN" -qAtX -c "SELECT count(*) FROM pg_database WHERE datname LIKE 'hookbox\_bench\_%'"
}

require_ports_free() {
    require_free_port 18080
    require_free_port 18090
}

# --- bench/run.sh, the full comparison with one-second points ---------------------------------
databases_before=$(bench_databases)
echo "bench smoke: bench/run.sh with 1-second points (builds the release binaries first)…"
if ! BENCH_FIRST=node DURATION=1 WARMUP=0 SENDERS="1 4" DUPLICATES=0.5 bench/run.sh >"$WORK/table" 2>"$WORK/log"; then
    cat "$WORK/log" "$WORK/table" >&2
    fail "bench/run.sh exited with an error"
fi
cat "$WORK/table"

# The table: three points per receiver (1 and 4 senders, and run.sh's redelivery point, always
# at 16 senders), each with its row check passed and no failed request.
for receiver in hookbox-postgres hookbox-sqlite node-fastify-pg; do
    rows=$(awk -v r="$receiver" '$1 == r' "$WORK/table")
    [[ $(grep -c . <<<"$rows") == 3 ]] || fail "the table has not three rows for $receiver"
    awk '$9 != 0 || $10 != "ok" { exit 1 }' <<<"$rows" ||
        fail "a $receiver row has failed requests or a failed row check"
    awk '$15 !~ /^[0-9]+$/ || $15 > 100 { exit 1 }' <<<"$rows" ||
        fail "a $receiver row has no steal percentage"
done

# The pairing, from the order in which the points were measured (run.sh logs each point's
# summary to stderr as it ends).
mapfile -t measured < <(grep '^summary label=\(hookbox-postgres\|node-fastify-pg\) ' "$WORK/log" |
    sed -E 's/^summary label=([^ ]+) senders=([^ ]+) .* dups=([^ ]+) .*/\1 \2 \3/')
[[ ${#measured[@]} == 6 ]] || fail "expected 6 Postgres points, measured ${#measured[@]}"
for pair in 0 1 2; do
    read -r first_label first_senders first_dups <<<"${measured[$((2 * pair))]}"
    read -r second_label second_senders second_dups <<<"${measured[$((2 * pair + 1))]}"
    [[ $first_label != "$second_label" ]] ||
        fail "points $((2 * pair + 1)) and $((2 * pair + 2)) were both $first_label"
    [[ "$first_senders $first_dups" == "$second_senders $second_dups" ]] ||
        fail "pair $((pair + 1)) measured different points: ${measured[*]}"
    expected_first=$([[ $((pair % 2)) == 0 ]] && echo node-fastify-pg || echo hookbox-postgres)
    [[ $first_label == "$expected_first" ]] ||
        fail "pair $((pair + 1)) began with $first_label, not $expected_first (order: ${measured[*]})"
done

grep -qx 'order: node-fastify-pg measured first at the first Postgres point, then alternating point by point' \
    "$WORK/table" || fail "the table does not say which receiver went first"
BENCH_FIRST=either bench/run.sh >/dev/null 2>"$WORK/bad-first" &&
    fail "bench/run.sh accepted BENCH_FIRST=either"
grep -q 'BENCH_FIRST must be hookbox, node or random' "$WORK/bad-first" ||
    fail "bench/run.sh refused BENCH_FIRST=either without saying why"

require_ports_free
[[ $(bench_databases) == "$databases_before" ]] || fail "bench/run.sh left databases behind"

# --- bench/run.sh soak, a few seconds ----------------------------------------------------------
echo "bench smoke: bench/run.sh soak 3…"
BENCH_NO_BUILD=1 bench/run.sh soak 3 >"$WORK/soak" 2>&1 || { cat "$WORK/soak" >&2; fail "the soak failed"; }
grep -q '^check      ok' "$WORK/soak" || { cat "$WORK/soak" >&2; fail "the soak's row check did not pass"; }
# Any t: $SECONDS counts whole seconds, so the first sample may read 1 s on a loaded machine.
grep -Eq '^t= +[0-9]+s rss=[0-9]+ [0-9]+ load1=[0-9.]+ steal=[0-9]+% ckpt=[0-9]+$' "$WORK/soak" ||
    { cat "$WORK/soak" >&2; fail "the soak sampled no memory, steal or checkpoints"; }
grep -Eq '^interval +0-3 +s +[0-9]+ req/s' "$WORK/soak" ||
    { cat "$WORK/soak" >&2; fail "the soak printed no latency per interval"; }
require_ports_free
[[ $(bench_databases) == "$databases_before" ]] || fail "the soak left its database behind"

# --- the schema guard -------------------------------------------------------------------------
echo "bench smoke: the guard against a reference with a different callbacks table…"
for db in "${GUARD_DATABASES[@]}"; do
    psql "$PG_ADMIN" -qAtX -c "CREATE DATABASE $db" >/dev/null
done
ours="$PG_BASE/${GUARD_DATABASES[0]}"
theirs="$PG_BASE/${GUARD_DATABASES[1]}"
empty="$PG_BASE/${GUARD_DATABASES[2]}"
for db in "$ours" "$theirs"; do
    psql "$db" -qAtX -c "CREATE TABLE callbacks (id BIGINT PRIMARY KEY, status TEXT)" >/dev/null
done
(require_same_callbacks_schema "$ours" "$theirs") || fail "the guard refused two equal tables"
psql "$theirs" -qAtX -c "CREATE INDEX callbacks_status ON callbacks (status)" >/dev/null
if (require_same_callbacks_schema "$ours" "$theirs") 2>"$WORK/guard"; then
    fail "the guard let a reference with an extra index through"
fi
grep -q 'callbacks_status' "$WORK/guard" || fail "the guard did not name the differing index"
if (require_same_callbacks_schema "$empty" "$empty") 2>/dev/null; then
    fail "the guard compared a database without a callbacks table"
fi

echo "bench smoke: ok"
