#!/bin/sh
# Runs every test program given on the command line, shows their output and
# ends with the one summary line `N passed, M failed` (exit 1 on any failure).
# A program that crashes or prints no summary counts as one failure.
passed=0
failed=0
for t in "$@"; do
    out=$("$t" tests 2>&1)
    rc=$?
    printf '%s\n' "$out" | grep -v '^ok ' | grep -v '^# ' | sed "s|^|$(basename "$t"): |"
    sum=$(printf '%s\n' "$out" | grep '^# [0-9]* passed, [0-9]* failed' | tail -1)
    if [ -z "$sum" ]; then
        echo "$(basename "$t"): no summary (exit $rc): counted as 1 failure"
        failed=$((failed + 1))
        continue
    fi
    p=$(echo "$sum" | sed 's/# \([0-9]*\) passed.*/\1/')
    f=$(echo "$sum" | sed 's/.* \([0-9]*\) failed/\1/')
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "$(basename "$t"): exit $rc"; fi
    echo "$(basename "$t"): $p passed, $f failed"
    passed=$((passed + p))
    failed=$((failed + f))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
