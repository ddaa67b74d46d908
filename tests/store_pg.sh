#!/bin/sh
# store_pg.sh [DIR]: the store contract suite (test_store) on PostgreSQL.
# Needs DC_PG_DSN (tests/with-pg.sh sets it); without it this is a failure,
# never a silent skip.
bin="${BUILD:-build}/tests/test_store"
if [ -z "${DC_PG_DSN:-}" ]; then
    echo "FAIL store_pg: DC_PG_DSN is not set: run under tests/with-pg.sh (make check does)"
    echo "# 0 passed, 1 failed"
    exit 1
fi
DC_STORE_BACKEND=postgresql exec "$bin" "$@"
