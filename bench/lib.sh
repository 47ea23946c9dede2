# Helpers shared by the bench scripts; sourced, not run.

# Refuses a port something already listens on: a server left from an earlier run would answer
# the load generator in place of the one just started, and its figures would be reported.
require_free_port() { # port
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
        echo "port $1 is already in use (a server left from an earlier run?); stop it first" >&2
        exit 1
    fi
}

# Waits until `url` answers; stops the script, with the server's log, if the server exits
# first or is not ready within 20 s.
wait_ready() { # url log pid
    for _ in $(seq 1 200); do
        kill -0 "$3" 2>/dev/null || { echo "server exited; log:" >&2; cat "$2" >&2; exit 1; }
        curl -s -o /dev/null "$1" && return 0
        sleep 0.1
    done
    echo "server not ready at $1; log:" >&2
    cat "$2" >&2
    exit 1
}

# Drops the named databases, ignoring those already gone (for the scripts' cleanups).
drop_pg_databases() { # name…
    local db
    for db in "$@"; do
        psql "$PG_ADMIN" -qAtX -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    done
}

# The columns and indexes of `callbacks`, one per line, as a comparable text.
callbacks_schema() { # database-url
    psql "$1" -qAtX -c "SELECT column_name || ' ' || data_type || ' ' || is_nullable
            FROM information_schema.columns WHERE table_name = 'callbacks' ORDER BY column_name" \
        -c "SELECT indexdef FROM pg_indexes WHERE tablename = 'callbacks' ORDER BY indexname"
}

# Stops the script if the reference's table differs from Hookbox's: every index is work per
# stored row, so a reference with fewer would be measured doing less than Hookbox.
require_same_callbacks_schema() { # hookbox-database-url reference-database-url
    local ours theirs
    ours=$(callbacks_schema "$1") && theirs=$(callbacks_schema "$2") || {
        echo "cannot read the callbacks tables to compare them" >&2
        exit 1
    }
    [[ -n $ours ]] || { echo "Hookbox's database has no callbacks table" >&2; exit 1; }
    if [[ $ours != "$theirs" ]]; then
        echo "the reference's callbacks table differs from Hookbox's (< Hookbox, > reference):" >&2
        diff <(echo "$ours") <(echo "$theirs") >&2 || true
        exit 1
    fi
}
