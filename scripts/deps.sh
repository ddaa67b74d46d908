#!/bin/sh
# Installs the Debian packages Ducat needs, only those that are missing.
#   scripts/deps.sh [build|fuzz|all]
# Uses apt-get as root, or sudo otherwise. Safe to run repeatedly: when
# everything is present it does nothing and prints nothing.
set -e
what=${1:-build}
# postgresql + libpq-dev: the PostgreSQL backend, tested against a throwaway
# cluster (tests/with-pg.sh); the package's own 'main' cluster is not used
# dpkg-dev, help2man, lintian: make deb and make man (tests/deb.sh)
# chromium: the admin console's browser test (tests/api/test_api_console.c)
# python3, openssl: the layering check (tests/layers.py) and the vectors checked
# against an independent Ed25519 and BLAKE2b (tests/vectors_independent.py)
# pcscd, libpcsclite-dev, vsmartcard-vpcd: ducat tap (PC/SC) and its test through a
# private pcscd with the virtual reader (tests/with-pcscd.sh)
# libqrencode-dev, libpng-dev: armor as QR codes; zbar-tools: zbarimg reads them back in tests
# faketime: tests/future_dates.sh runs release scenarios at dates in 2027 and 2030
pkgs="make gcc pkg-config python3 openssl dpkg-dev help2man lintian libsodium-dev libsqlite3-dev libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev postgresql libpq-dev chromium pcscd libpcsclite-dev vsmartcard-vpcd libqrencode-dev libpng-dev zbar-tools faketime"
case "$what" in
    build) ;;
    fuzz) pkgs="$pkgs clang libclang-rt-14-dev" ;;
    all) pkgs="$pkgs clang libclang-rt-14-dev clang-format cppcheck" ;;
    *) echo "deps.sh: unknown set '$what' (build, fuzz, all)" >&2; exit 2 ;;
esac
missing=""
for p in $pkgs; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0
echo "deps.sh: installing:$missing"
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq || true
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing
