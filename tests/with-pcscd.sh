#!/bin/sh
# with-pcscd.sh CMD [ARG...]: runs CMD with a private pcscd that serves the
# vsmartcard virtual reader ("Virtual PCD 00 00"), then stops it and removes
# its files, whatever happens. Exits with CMD's status. For CMD:
#   PCSCLITE_CSOCK_NAME  the private pcscd's client socket (libpcsclite reads it)
#   DUCAT_VPCD_PORT      the TCP port where a virtual card (ducat card) connects
#
# Debian's pcscd keeps its socket and pid file at fixed paths under
# /run/pcscd and has no option to move them. So pcscd runs in a mount
# namespace of its own (unshare -m, root only) in which a bind mount puts a
# directory of this run at /run/pcscd: the socket lands in that directory on
# the real filesystem, where the clients reach it through
# PCSCLITE_CSOCK_NAME, and a system pcscd (or another run) is never touched.
# Its configuration is a copy of /etc/reader.conf.d/vpcd with a free port.
#
# If pcscd or the vpcd driver is missing, CMD still runs without the two
# variables: the NFC tests then fail loudly instead of being skipped.
set -u
conf=/etc/reader.conf.d/vpcd
if ! command -v pcscd >/dev/null 2>&1 || [ ! -f "$conf" ] || ! command -v unshare >/dev/null ||
    [ "$(id -u)" -ne 0 ]; then
    echo "with-pcscd.sh: needs root, pcscd and vsmartcard-vpcd (scripts/deps.sh installs them);" \
        "running without a reader: the NFC tests will fail" >&2
    unset PCSCLITE_CSOCK_NAME DUCAT_VPCD_PORT
    exec "$@"
fi
dir=$(mktemp -d /tmp/ducat-pcscd-XXXXXX) || exit 1
mkdir "$dir/conf" "$dir/run"
# a free TCP port (vpcd listens on it; the driver takes the next one too)
port=""
for try in 1 2 3 4 5 6 7 8 9 10; do
    p=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 30000 ))
    if ! (ss -ltn 2>/dev/null | grep -q ":$p \|:$((p + 1)) "); then port=$p; break; fi
done
[ -n "$port" ] || { echo "with-pcscd.sh: no free port" >&2; rm -rf "$dir"; exit 1; }
hex=$(printf '0x%04X' "$port")
sed -e "s|^DEVICENAME.*|DEVICENAME   /dev/null:$hex|" -e "s|^CHANNELID.*|CHANNELID    $hex|" \
    "$conf" > "$dir/conf/vpcd"

pid=""
stopped=0
cleanup() {
    [ "$stopped" -eq 1 ] && return
    stopped=1
    if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

unshare -m --propagation private sh -c \
    'mount -t tmpfs tmpfs /run && mkdir /run/pcscd && mount --bind "$1/run" /run/pcscd &&
     exec pcscd -f -c "$1/conf"' sh "$dir" > "$dir/pcscd.log" 2>&1 &
pid=$!
i=0
while [ ! -S "$dir/run/pcscd.comm" ]; do
    i=$((i + 1))
    if [ "$i" -gt 100 ] || ! kill -0 "$pid" 2>/dev/null; then
        echo "with-pcscd.sh: pcscd did not start:" >&2
        cat "$dir/pcscd.log" >&2
        exit 1
    fi
    sleep 0.1
done
export PCSCLITE_CSOCK_NAME="$dir/run/pcscd.comm"
export DUCAT_VPCD_PORT="$port"
"$@"
rc=$?
cleanup
exit "$rc"
