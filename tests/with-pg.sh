#!/bin/sh
# with-pg.sh CMD [ARG...]: runs CMD with a throwaway PostgreSQL cluster and
# DC_PG_DSN naming a fresh database in it; stops and removes the cluster
# afterwards, whatever happens (exit, error, Ctrl-C, TERM, HUP; a watchdog
# covers a SIGKILLed wrapper). Exits with CMD's status.
#
# The cluster lives in a new mktemp -d directory: initdb'd there, listening
# on a unix socket in that directory only (no TCP port, so parallel runs and
# the distribution's own 'main' cluster never collide), fsync on (the tests
# and benchmarks measure real durability). As root the server runs as the
# Debian 'postgres' user (initdb refuses root).
#
# If PostgreSQL is not installed, CMD still runs, without DC_PG_DSN: the
# PostgreSQL tests then fail loudly instead of being skipped.
set -u
bindir=""
for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then bindir=$d; break; fi
done
if [ -z "$bindir" ]; then
    echo "with-pg.sh: PostgreSQL server binaries not found (scripts/deps.sh installs them);" \
        "running without DC_PG_DSN: PostgreSQL tests will fail" >&2
    unset DC_PG_DSN
    exec "$@"
fi

dir=$(mktemp -d /tmp/ducat-pg-XXXXXX) || exit 1
as_pg() { "$@"; }
if [ "$(id -u)" -eq 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
        echo "with-pg.sh: running as root but there is no 'postgres' user to run the server" >&2
        rm -rf "$dir"
        exit 1
    fi
    chown postgres "$dir"
    as_pg() { runuser -u postgres -- "$@"; }
fi

stopped=0
child=""
cleanup() {
    [ "$stopped" -eq 1 ] && return
    stopped=1
    if [ -n "$child" ]; then kill -TERM "$child" 2>/dev/null; wait "$child" 2>/dev/null; fi
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_pg "$bindir/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

if ! as_pg "$bindir/initdb" -D "$dir/data" -U ducat --auth=trust -E UTF8 --no-sync \
    >"$dir/initdb.log" 2>&1; then
    echo "with-pg.sh: initdb failed:" >&2
    cat "$dir/initdb.log" >&2
    exit 1
fi
# enable_seqscan is set per session by store_pg.c; these are cluster-wide:
# predicate locks for SERIALIZABLE batches (docs/DEPLOY.md), connections
# for several ducatd with their pools, a short deadlock timeout
cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir'
fsync = on
synchronous_commit = on
full_page_writes = on
max_connections = 400
shared_buffers = 64MB
max_pred_locks_per_transaction = 4096
max_pred_locks_per_page = 64
deadlock_timeout = 100ms
CONF

if ! as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null; then
    echo "with-pg.sh: the PostgreSQL server did not start:" >&2
    tail -20 "$dir/server.log" >&2
    exit 1
fi
# the watchdog: if this script dies without running its traps (SIGKILL),
# stop the server and remove the directory anyway
wrapper=$$
(
    trap '' INT TERM HUP
    while kill -0 "$wrapper" 2>/dev/null; do sleep 1; done
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_pg "$bindir/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop
    fi
    rm -rf "$dir"
) >/dev/null 2>&1 </dev/null &

if ! as_pg "$bindir/createdb" -h "$dir" -U ducat ducat 2>"$dir/createdb.log"; then
    echo "with-pg.sh: createdb failed:" >&2
    cat "$dir/createdb.log" >&2
    exit 1
fi
export DC_PG_DSN="postgresql://ducat@/ducat?host=$dir"
export DC_PG_DIR="$dir"
export DC_PG_BIN="$bindir"
# in the background and waited for, so that a signal runs the traps at once
# (a shell defers traps until a foreground command ends)
"$@" &
child=$!
wait "$child"
rc=$?
child=""
exit $rc
