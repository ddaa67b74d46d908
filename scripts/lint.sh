#!/bin/sh
# scripts/lint.sh: the style and static-analysis gate (`make lint`, .ci/run).
#   1. clang-format --dry-run --Werror on every tracked C file;
#   2. cppcheck (warning + portability) over src/ and tools/, errors fatal;
#      a finding that is a false positive gets an inline suppression with
#      the reason next to it, never a global one.
set -u
cd "$(dirname "$0")/.."
fail=0
files=$(git ls-files '*.c' '*.h')
# shellcheck disable=SC2086
if ! clang-format --dry-run --Werror $files; then
    echo "lint: the files above are not clang-formatted (make fmt, or clang-format -i FILE)" >&2
    fail=1
fi
if ! cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
    --suppress=missingIncludeSystem -Iinclude -Isrc src tools; then
    echo "lint: cppcheck found the problems above" >&2
    fail=1
fi
[ "$fail" -eq 0 ] && echo "lint: clean ($(echo $files | wc -w) files formatted)"
exit "$fail"
