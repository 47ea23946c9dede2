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
