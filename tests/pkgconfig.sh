#!/bin/sh
# An integrator's program against the installed libraries: `make install`
# into a throwaway DESTDIR, then a program using service.h (the wallet
# service) and amount.h compiles with `pkg-config --cflags ducat-wallet`,
# links with `pkg-config --libs ducat-wallet` (no --static) and runs.
B=${BUILD:-build}
pass=0
fail=0
ok() { echo "ok $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }
T=$(mktemp -d /tmp/ducat-pc.XXXXXX)
trap 'rm -rf "$T"' EXIT
if make --no-print-directory BUILD="$B" install DESTDIR="$T/root" PREFIX=/usr > "$T/install.log" 2>&1; then
    ok "make install DESTDIR=... PREFIX=/usr"
else
    tail "$T/install.log"
    bad "make install"
fi
# the man pages and the completion come along (a packager's DESTDIR too)
for f in share/man/man1/ducat.1 share/man/man5/ducat.conf.5 share/man/man8/ducatd.8 \
    share/bash-completion/completions/ducat share/bash-completion/completions/ducatd; do
    if [ -s "$T/root/usr/$f" ]; then ok "make install puts /usr/$f"; else bad "no /usr/$f"; fi
done
if grep -q 'operators' "$T/root/usr/share/man/man8/ducatd.8"; then
    ok "ducatd(8) has every command of --help (operators)"
else
    bad "ducatd(8) lacks the operators command"
fi
cat > "$T/app.c" <<'C'
#include <ducat/service.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
    struct dc_service s;
    memset(&s, 0, sizeof s);
    dc_service_init(&s, NULL, NULL, NULL, NULL);
    printf("linked %s\n", s.detail[0] ? "with detail" : "ok");
    return 0;
}
C
export PKG_CONFIG_SYSROOT_DIR="$T/root" PKG_CONFIG_PATH="$T/root/usr/lib/pkgconfig"
cflags=$(pkg-config --cflags ducat-wallet) && libs=$(pkg-config --libs ducat-wallet)
# SAN: the sanitizer flags the libraries were built with (make check-asan)
# shellcheck disable=SC2086
if cc ${SAN:-} -o "$T/app" "$T/app.c" $cflags $libs 2> "$T/cc.log"; then
    ok "a program using service.h links with pkg-config --libs ducat-wallet"
else
    cat "$T/cc.log"
    bad "link with pkg-config --libs ducat-wallet: $libs"
fi
if LD_LIBRARY_PATH="$T/root/usr/lib" "$T/app" | grep -q '^linked'; then
    ok "and runs"
else
    bad "the linked program does not run"
fi
echo "# $pass passed, $fail failed"
[ "$fail" -eq 0 ]
