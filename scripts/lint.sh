#!/bin/sh
# scripts/lint.sh: the style and static-analysis gate (`make lint`, .ci/run).
#   1. clang-format --dry-run --Werror on every tracked C file except those
#      still listed in scripts/fmt-pending.txt (the list may only shrink);
#   2. a listed file that is already clean fails too, so the list cannot rot;
#   3. cppcheck (warning + portability) over src/ and tools/, errors fatal;
#      a finding that is a false positive gets an inline suppression with
#      the reason next to it, never a global one.
set -u
cd "$(dirname "$0")/.."
pending=scripts/fmt-pending.txt
fail=0
files=$(git ls-files '*.c' '*.h')
todo=""
for f in $files; do
    if grep -qxF "$f" "$pending"; then
        if clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
            echo "lint: $f is clang-formatted now: delete its line from $pending" >&2
            fail=1
        fi
    else
        todo="$todo $f"
    fi
done
# shellcheck disable=SC2086
if ! clang-format --dry-run --Werror $todo; then
    echo "lint: the files above are not clang-formatted (clang-format -i FILE)" >&2
    fail=1
fi
for f in $(grep -v '^#' "$pending"); do
    [ -f "$f" ] || { echo "lint: $pending names $f, which does not exist" >&2; fail=1; }
done
if ! cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
    --suppress=missingIncludeSystem -Iinclude -Isrc src tools; then
    echo "lint: cppcheck found the problems above" >&2
    fail=1
fi
[ "$fail" -eq 0 ] && echo "lint: clean ($(echo $todo | wc -w) files formatted, $(grep -vc '^#' $pending) pending)"
exit "$fail"
