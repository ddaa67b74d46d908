#!/bin/sh
# docs/ERRORS.md must be exactly what the registry generates.
B=${BUILD:-build}
if "$B/tools/ducat-errors" | diff -u docs/ERRORS.md - ; then
    echo "ok ERRORS.md is fresh"
    echo "# 1 passed, 0 failed"
else
    echo "FAIL docs/ERRORS.md is stale: run $B/tools/ducat-errors > docs/ERRORS.md"
    echo "# 0 passed, 1 failed"
    exit 1
fi
