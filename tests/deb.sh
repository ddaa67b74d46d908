#!/bin/sh
# The Debian package, as an operator gets it: `make deb` builds it and
# lintian finds no error; unpacked into a throwaway root (no install on this
# machine), the postinst's init creates the instance with its config in
# etc/ducat, and the installed ducatd, started with the unit's own ExecStart
# (paths re-rooted, plus --port-file), serves /v1/health. Then the man pages,
# the completion and the unit's hardening are checked in the package itself.
# Prints ok/FAIL lines and the "# N passed, M failed" summary of tests/run.sh.
pass=0
fail=0
ok() { echo "ok $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

T=$(mktemp -d /tmp/ducat-deb.XXXXXX)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2> /dev/null && wait "$pid" 2> /dev/null
    rm -rf "$T"
}
trap cleanup EXIT

if make --no-print-directory deb > "$T/make.log" 2>&1; then
    ok "make deb builds the package and lintian reports no error"
else
    tail -20 "$T/make.log"
    bad "make deb (see above)"
    echo "# $pass passed, $fail failed"
    exit 1
fi
deb=$(ls build-deb/ducat_*-1_"$(dpkg --print-architecture)".deb)
R=$T/root
dpkg-deb -x "$deb" "$R" && dpkg-deb -e "$deb" "$T/DEBIAN"
check "the package holds ducatd, ducat, the unit, man pages and completion" \
    '[ -x "$R/usr/bin/ducatd" ] && [ -x "$R/usr/bin/ducat" ] &&
     [ -f "$R/lib/systemd/system/ducatd.service" ] && [ -f "$R/usr/share/man/man8/ducatd.8.gz" ] &&
     [ -f "$R/usr/share/man/man1/ducat.1.gz" ] && [ -f "$R/usr/share/man/man5/ducat.conf.5.gz" ] &&
     [ -f "$R/usr/share/bash-completion/completions/ducat" ]'
check "the installed ducatd reads /etc/ducat/ducat.conf by default" \
    '"$R/usr/bin/ducatd" --help | grep -q "else /etc/ducat/ducat.conf"'
check "-V prints the version of both programs" \
    '"$R/usr/bin/ducatd" -V | grep -q "^ducatd [0-9]" && "$R/usr/bin/ducat" -V | grep -q "^ducat [0-9]"'

unit=$R/lib/systemd/system/ducatd.service
for k in User=ducat StateDirectory=ducat NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes \
    PrivateTmp=yes CapabilityBoundingSet= 'SystemCallFilter=@system-service'; do
    check "unit: $k" 'grep -qx "$k" "$unit"'
done
check "postinst creates the instance in /var/lib/ducat with its config for /etc/ducat" \
    'grep -q "ducatd init /var/lib/ducat --config" "$T/DEBIAN/postinst" &&
     grep -q "mv /var/lib/ducat/ducat.conf.new /etc/ducat/ducat.conf" "$T/DEBIAN/postinst"'

# The postinst's init, re-rooted into $R (it runs as the ducat user there).
mkdir -p "$R/var/lib/ducat" "$R/etc/ducat"
"$R/usr/bin/ducatd" init "$R/var/lib/ducat" --config "$R/var/lib/ducat/ducat.conf.new" > "$T/init.log" 2>&1 &&
    mv "$R/var/lib/ducat/ducat.conf.new" "$R/etc/ducat/ducat.conf"
conf=$R/etc/ducat/ducat.conf
check "init writes the config with absolute paths into the state directory" \
    'grep -qx "store = sqlite:$R/var/lib/ducat/ducat.db" "$conf" &&
     grep -qx "signing_key_dir = $R/var/lib/ducat/keys" "$conf" &&
     grep -qx "calendar = $R/var/lib/ducat/calendar.txt" "$conf" &&
     [ -f "$R/var/lib/ducat/admin.token" ] && [ ! -e "$R/var/lib/ducat/ducat.conf" ]'
# A free port instead of 8080, which another instance on this machine may hold.
sed -i 's/^listen = .*/listen = 127.0.0.1:0/' "$conf"

exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
check "ExecStart is ducatd -c /etc/ducat/ducat.conf serve" \
    '[ "$exec_start" = "/usr/bin/ducatd -c /etc/ducat/ducat.conf serve" ]'
# shellcheck disable=SC2086
set -- $(echo "$exec_start" | sed "s| /etc/| $R/etc/|g; s|^/usr/|$R/usr/|")
"$@" --port-file "$T/port" > "$T/serve.log" 2>&1 &
pid=$!
i=0
while [ ! -s "$T/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
port=$(cat "$T/port" 2> /dev/null)
health=$(curl -s --max-time 5 "http://127.0.0.1:$port/v1/health")
check "the installed ducatd started from the unit's command line serves /v1/health" \
    '[ "$health" = "{\"status\":\"ok\"}" ]' || cat "$T/serve.log"
kill "$pid" && wait "$pid"
rc=$?
pid=
check "it stops cleanly on SIGTERM (exit 0)" '[ $rc -eq 0 ]'

# Man pages: every command of --help is in the page, the config page names
# every key of `ducatd help config`.
m8=$(zcat "$R/usr/share/man/man8/ducatd.8.gz" | MANWIDTH=200 man -l - 2> /dev/null)
missing=
for c in $("$R/usr/bin/ducatd" --help | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p' | grep -v '^help$'); do
    echo "$m8" | grep -q "^   $c\$" || echo "$m8" | grep -q "^       $c\$" || missing="$missing $c"
done
check "ducatd(8) describes every command of ducatd --help${missing:+ (missing:$missing)}" '[ -z "$missing" ]'
m5=$(zcat "$R/usr/share/man/man5/ducat.conf.5.gz" | MANWIDTH=200 man -l - 2> /dev/null)
missing=
for k in $("$R/usr/bin/ducatd" help config | sed -n 's/^  \([a-z_]*\) = .*/\1/p'); do
    echo "$m5" | grep -q "^       $k" || missing="$missing $k"
done
check "ducat.conf(5) describes every config key${missing:+ (missing:$missing)}" '[ -z "$missing" ]'
m1=$(zcat "$R/usr/share/man/man1/ducat.1.gz" | MANWIDTH=200 man -l - 2> /dev/null)
check "ducat(1) has the details of ducat pay" 'echo "$m1" | grep -q "answer an offline payment request"'

# Completion: commands of each program, a command's own options.
comp() {
    PATH="$R/usr/bin:$PATH" bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1));
        _ducat; printf "%s\n" "${COMPREPLY[@]}"' _ "$R/usr/share/bash-completion/completions/ducat" "$@"
}
check "completion: ducatd se<TAB> gives serve" '[ "$(comp ducatd se)" = serve ]'
check "completion: ducat receive --l<TAB> gives --listen" '[ "$(comp ducat receive --l)" = --listen ]'
check "completion: ducatd serve --log-f<TAB> gives --log-format" \
    '[ "$(comp ducatd serve --log-f)" = --log-format ]'

# The licence: Apache-2.0, in the machine-readable copyright file.
check "the copyright file is machine-readable and names Apache-2.0" \
    'head -1 "$R/usr/share/doc/ducat/copyright" | grep -q "^Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/" &&
     grep -qx "License: Apache-2.0" "$R/usr/share/doc/ducat/copyright"'

# ducat-dev, unpacked into the same throwaway root: an integrator's program
# using service.h and amount.h builds with pkg-config against the packaged
# headers, static libraries and .pc files (the system's own -dev packages
# that ducat-dev depends on are installed on this machine by deps.sh).
ddeb=$(ls build-deb/ducat-dev_*-1_"$(dpkg --print-architecture)".deb)
dpkg-deb -x "$ddeb" "$R" && dpkg-deb -e "$ddeb" "$T/DEBIAN-dev"
MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
check "ducat-dev holds the headers, both static libraries and both .pc files" \
    '[ -f "$R/usr/include/ducat/service.h" ] && [ -f "$R/usr/include/ducat/errors.def" ] &&
     [ -f "$R/usr/lib/$MA/libducat.a" ] && [ -f "$R/usr/lib/$MA/libducat-wallet.a" ] &&
     [ -f "$R/usr/lib/$MA/pkgconfig/ducat.pc" ] && [ -f "$R/usr/lib/$MA/pkgconfig/ducat-wallet.pc" ] &&
     [ -f "$R/usr/share/doc/ducat-dev/copyright" ]'
check "ducat-dev depends on the -dev packages its .pc files require" \
    'grep -q "^Depends: libsodium-dev, libjansson-dev, libcurl4-openssl-dev" "$T/DEBIAN-dev/control"'
cat > "$T/app.c" <<'C'
#include <ducat/amount.h>
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
pcflags=$(PKG_CONFIG_SYSROOT_DIR="$R" PKG_CONFIG_PATH="$R/usr/lib/$MA/pkgconfig" \
    pkg-config --cflags --libs ducat-wallet 2> "$T/pc.log")
# shellcheck disable=SC2086
if cc -o "$T/app" "$T/app.c" $pcflags 2> "$T/cc.log" && "$T/app" | grep -q '^linked'; then
    ok "a program builds with pkg-config --cflags --libs ducat-wallet against ducat-dev, and runs"
else
    cat "$T/pc.log" "$T/cc.log"
    bad "build against ducat-dev with: $pcflags"
fi

echo "# $pass passed, $fail failed"
[ "$fail" -eq 0 ]
