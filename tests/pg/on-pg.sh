#!/bin/sh
# on-pg.sh: runs a test program against PostgreSQL. It is invoked through a
# symlink named after the program: tests/pg/test_store.pg runs
# $BUILD/tests/test_store with DC_STORE_BACKEND=postgresql (the store
# contract suite on the second backend); tests/pg/test_api_X.pg runs
# $BUILD/tests/test_api_X with DUCAT_TEST_STORE=postgresql (every ducatd the
# suite starts gets a fresh database). tests/run.sh labels the output with
# the link's name, so each backend reports its own pass count.
#
# Needs the cluster of tests/with-pg.sh (make check runs everything under
# it); without one this is a failure, never a silent skip.
name=$(basename "$0" .pg)
if [ -z "${DC_PG_DSN:-}" ] || [ -z "${DC_PG_DIR:-}" ]; then
    echo "FAIL $name.pg: no PostgreSQL cluster (DC_PG_DSN unset): run under tests/with-pg.sh" \
        "(make check does)"
    echo "# 0 passed, 1 failed"
    exit 1
fi
bin="${BUILD:-build}/tests/$name"
case "$name" in
    test_store) DC_STORE_BACKEND=postgresql exec "$bin" "$@" ;;
    *) DUCAT_TEST_STORE=postgresql exec "$bin" "$@" ;;
esac
