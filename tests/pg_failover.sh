#!/bin/sh
# pg_failover.sh: the PostgreSQL failover test (docs/DEPLOY.md, "Failover").
#
# Starts two throwaway clusters like tests/with-pg.sh (unix sockets in a new
# mktemp -d directory, no TCP, as the 'postgres' user when root): a primary
# and a synchronous streaming standby made with pg_basebackup -R
# (synchronous_standby_names = '*', synchronous_commit = on). Then runs
# $BUILD/tests/test_api_failover, which starts two ducatd with the
# multi-host DSN host=PRIMARY,STANDBY&target_session_attrs=read-write,
# SIGKILLs the primary mid-load and promotes the standby with the command
# in DC_PG_PROMOTE. Both clusters are stopped and removed afterwards,
# whatever happens. Exits with the test's status.
set -u
bindir=""
for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/pg_basebackup" ]; then
        bindir=$d
        break
    fi
done
if [ -z "$bindir" ]; then
    echo "FAIL pg_failover.sh: PostgreSQL server binaries not found (scripts/deps.sh installs them)"
    echo "# 0 passed, 1 failed"
    exit 1
fi
dir=$(mktemp -d /tmp/ducat-pgfo-XXXXXX) || exit 1
mkdir "$dir/p" "$dir/s"
as_pg() { "$@"; }
if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$dir" "$dir/p" "$dir/s"
    as_pg() { runuser -u postgres -- "$@"; }
fi
fail() {
    echo "FAIL pg_failover.sh: $*"
    echo "# 0 passed, 1 failed"
    exit 1
}

stopped=0
child=""
cleanup() {
    [ "$stopped" -eq 1 ] && return
    stopped=1
    if [ -n "$child" ]; then kill -TERM "$child" 2>/dev/null; wait "$child" 2>/dev/null; fi
    for c in p s; do
        if [ -f "$dir/$c/data/postmaster.pid" ]; then
            as_pg "$bindir/pg_ctl" -D "$dir/$c/data" -m immediate -w -t 30 stop >/dev/null 2>&1
        fi
    done
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

as_pg "$bindir/initdb" -D "$dir/p/data" -U ducat --auth=trust -E UTF8 --no-sync \
    >"$dir/initdb.log" 2>&1 || fail "initdb: $(tail -5 "$dir/initdb.log")"
# the primary waits for the standby's flush before it acknowledges a commit
cat >>"$dir/p/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir/p'
fsync = on
synchronous_commit = on
synchronous_standby_names = '*'
wal_level = replica
max_wal_senders = 4
hot_standby = on
max_connections = 200
shared_buffers = 32MB
max_pred_locks_per_transaction = 4096
max_pred_locks_per_page = 64
deadlock_timeout = 100ms
CONF
echo "local replication ducat trust" >>"$dir/p/data/pg_hba.conf"
as_pg "$bindir/pg_ctl" -D "$dir/p/data" -l "$dir/p/server.log" -w -t 60 start >/dev/null ||
    fail "primary did not start: $(tail -5 "$dir/p/server.log")"
as_pg "$bindir/pg_basebackup" -h "$dir/p" -U ducat -D "$dir/s/data" -R -X stream \
    >"$dir/basebackup.log" 2>&1 || fail "pg_basebackup: $(tail -5 "$dir/basebackup.log")"
# pg_basebackup copied the primary's synchronous_standby_names; promoted,
# this server has no standby of its own, and with '*' every commit would
# wait for one forever (docs/DEPLOY.md: the new primary runs alone until a
# new standby is built)
cat >>"$dir/s/data/postgresql.conf" <<CONF
unix_socket_directories = '$dir/s'
synchronous_standby_names = ''
CONF
as_pg "$bindir/pg_ctl" -D "$dir/s/data" -l "$dir/s/server.log" -w -t 60 start >/dev/null ||
    fail "standby did not start: $(tail -5 "$dir/s/server.log")"
# the standby must be streaming and synchronous before the test begins
i=0
while :; do
    st=$(as_pg "$bindir/psql" -X -A -t -h "$dir/p" -U ducat -d postgres \
        -c "SELECT sync_state FROM pg_stat_replication" 2>/dev/null)
    [ "$st" = "sync" ] && break
    i=$((i + 1))
    [ "$i" -gt 100 ] && fail "the standby never became synchronous (sync_state '$st')"
    sleep 0.1
done

wrapper=$$
(
    trap '' INT TERM HUP
    while kill -0 "$wrapper" 2>/dev/null; do sleep 1; done
    for c in p s; do
        if [ -f "$dir/$c/data/postmaster.pid" ]; then
            as_pg "$bindir/pg_ctl" -D "$dir/$c/data" -m immediate -w -t 30 stop
        fi
    done
    rm -rf "$dir"
) >/dev/null 2>&1 </dev/null &

as_pg "$bindir/createdb" -h "$dir/p" -U ducat ducat || fail "createdb failed"
export DC_PG_BIN="$bindir"
export DC_PG_DIR="$dir/p"
export DC_PG_STANDBY_DIR="$dir/s"
export DC_PG_HOSTS="$dir/p,$dir/s"
# SIGKILL of the postmaster and every backend at once: the machine dies
export DC_PG_KILL="p=\$(head -1 '$dir/p/data/postmaster.pid'); kill -9 \$p \$(ps -o pid= --ppid \$p)"
# the standby dies (test_standby_killed) and comes back
# (and waits until every one of its processes is gone: a new postmaster
# refuses to start while an old backend still holds the shared memory)
export DC_PG_STANDBY_KILL="p=\$(head -1 '$dir/s/data/postmaster.pid'); c=\$(ps -o pid= --ppid \$p); kill -9 \$p \$c; for x in \$p \$c; do while kill -0 \$x 2>/dev/null; do sleep 0.05; done; done"
if [ "$(id -u)" -eq 0 ]; then
    export DC_PG_STANDBY_START="runuser -u postgres -- '$bindir/pg_ctl' -D '$dir/s/data' -l '$dir/s/server.log' -w -t 60 start >/dev/null || { tail -5 '$dir/s/server.log'; false; }"
else
    export DC_PG_STANDBY_START="'$bindir/pg_ctl' -D '$dir/s/data' -l '$dir/s/server.log' -w -t 60 start >/dev/null || { tail -5 '$dir/s/server.log'; false; }"
fi
if [ "$(id -u)" -eq 0 ]; then
    export DC_PG_PROMOTE="runuser -u postgres -- '$bindir/pg_ctl' -D '$dir/s/data' -w -t 60 promote >/dev/null"
else
    export DC_PG_PROMOTE="'$bindir/pg_ctl' -D '$dir/s/data' -w -t 60 promote >/dev/null"
fi
"${BUILD:-build}/tests/test_api_failover" "$@" &
child=$!
wait "$child"
rc=$?
child=""
exit $rc
