#!/bin/sh
# Regenerates the core's test vectors and diffs them against the committed
# tests/vectors/core.vec: any change in a byte layout, a signature domain or
# a hash label shows up here as a failure with the differing lines.
B=${BUILD:-build}
out=$("$B/tools/ducat-vectors") || { echo "FAIL vectors: generator failed"; echo "# 0 passed, 1 failed"; exit 1; }
if printf '%s\n' "$out" | diff -u tests/vectors/core.vec - ; then
    n=$(grep -c ' = ' tests/vectors/core.vec)
    echo "ok core.vec ($n vectors)"
    echo "# 1 passed, 0 failed"
else
    echo "FAIL core.vec differs from the generator's output"
    echo "# 0 passed, 1 failed"
    exit 1
fi
