#!/bin/sh
# future_dates.sh: the suite must not rot with the calendar. Runs a test
# whose scenarios wait for releases (test_api_cases: deposits at the wall
# clock, holds released 60 days on) with the whole process tree's clock
# moved by libfaketime to 2027-03-01 and 2030-06-03, dates the shipped
# calendar (2025-2026) does not cover. The harness gives every test ducatd
# the test calendar (tests/api/calendar-test.txt, to 2040), so the releases
# happen; with the shipped calendar every release would wait for a calendar
# nobody has loaded and the scenarios would fail (they did on 2026-12-11).
# It also checks that ducatd really ran at the faked date (its log's time
# stamps) and sees the shipped calendar as ended there.
#
# Needs faketime (scripts/deps.sh installs it); without it this fails.
B=${BUILD:-build}
DUCATD=${DUCATD:-$B/ducatd}
pass=0
fail=0
ok() { echo "ok $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }
# sanitized builds (make check-asan): libfaketime is preloaded before the
# ASan runtime, which ASan refuses unless told the order does not matter
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
export ASAN_OPTIONS
T=$(mktemp -d /tmp/ducat-future.XXXXXX)
trap 'rm -rf "$T"' EXIT
if ! command -v faketime > /dev/null 2>&1; then
    bad "faketime is not installed (scripts/deps.sh installs it)"
    echo "# $pass passed, $fail failed"
    exit 1
fi
for when in "2027-03-01 10:00:00" "2030-06-03 10:00:00"; do
    day=${when% *}
    # ducatd at that date: the shipped calendar has ended
    "$DUCATD" init "$T/i-$day" > /dev/null 2>&1
    out=$(faketime -f "@$when" "$DUCATD" -c "$T/i-$day/ducat.conf" calendar show 2>&1)
    if echo "$out" | grep -q "2025-01-01..2026-12-31, 0 days left"; then
        ok "$day: ducatd sees the shipped calendar as ended"
    else
        bad "$day: calendar show said: $out"
    fi
    # the release scenarios, servers kept to read their logs
    out=$(DUCAT_KEEP_TEST_DIRS=1 DUCATD="$DUCATD" faketime -f "@$when" \
        "$B/tests/test_api_cases" tests 2>&1)
    rc=$?
    dirs=$(echo "$out" | sed -n 's/^# kept \(\/tmp\/ducat-test-[A-Za-z0-9]*\)$/\1/p')
    seen=0
    for d in $dirs; do
        if grep -q "^$day" "$d/server.log" 2>/dev/null; then seen=$((seen + 1)); fi
    done
    for d in $dirs; do rm -rf "$d"; done
    sum=$(echo "$out" | grep '^# [0-9]* passed, [0-9]* failed' | tail -1)
    if [ "$rc" -eq 0 ] && echo "$sum" | grep -q ' 0 failed' && ! echo "$sum" | grep -q '# 0 passed'; then
        ok "$day: test_api_cases ($sum)"
    else
        echo "$out" | grep -v '^ok ' | sed 's/^/    /'
        bad "$day: test_api_cases exited $rc ($sum)"
    fi
    if [ -n "$dirs" ] && [ "$seen" -gt 0 ]; then
        ok "$day: $seen test servers logged at $day"
    else
        bad "$day: no test server logged at $day"
    fi
done
echo "# $pass passed, $fail failed"
[ "$fail" -eq 0 ]
