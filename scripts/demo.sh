#!/bin/sh
# demo.sh - the seed's whole story with real programs: a ducatd on SQLite on
# a free loopback port, and real wallets of real people driven through the
# `ducat` CLI. Each step says in plain words what happens, runs it, and
# checks that it behaved as told; any surprise stops the demo with exit 1.
#
#   scripts/demo.sh            (make demo builds first and runs this)
#   BUILD=build-x scripts/demo.sh   binaries from another build directory
#   DEMO_KEEP=1                keep the temporary directory for a look
#
# Wallets use the cheapest Argon2id cost (--kdf min) only so the demo runs in
# seconds; real wallets use the default.
set -u
BUILD=${BUILD:-build}
DUCATD=${DUCATD:-$BUILD/ducatd}
DUCAT=${DUCAT:-$BUILD/ducat}
for b in "$DUCATD" "$DUCAT"; do
    [ -x "$b" ] || { echo "demo: $b is missing (run: make demo)"; exit 1; }
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DUCATD=$(cd "$(dirname "$DUCATD")" && pwd)/$(basename "$DUCATD")
DUCAT=$(cd "$(dirname "$DUCAT")" && pwd)/$(basename "$DUCAT")

T=$(mktemp -d /tmp/ducat-demo-XXXXXX)
SERVER_PID=
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    if [ "${DEMO_KEEP:-}" = 1 ]; then echo "(kept $T)"; else rm -rf "$T"; fi
}
trap cleanup EXIT INT TERM
cd "$T" || exit 1

N=0
step() { N=$((N + 1)); printf '\n== %d. %s\n' "$N" "$*"; }
say() { printf '   %s\n' "$*"; }
fail() { printf '\nDEMO FAILED at step %d: %s\n' "$N" "$*"; exit 1; }
# run CMD...: shows the command and its output (indented); fails on non-zero exit
run() {
    printf '   $ %s\n' "$(echo "$*" | sed "s|$DUCATD|ducatd|g; s|$DUCAT|ducat|g")"
    "$@" > out.txt 2>&1
    rc=$?
    sed 's/^/     /' out.txt
    [ "$rc" -eq 0 ] || fail "exit code $rc from: $*"
}
# refused CODE CMD...: the command must fail with exit CODE
refused() {
    want=$1
    shift
    printf '   $ %s\n' "$(echo "$*" | sed "s|$DUCATD|ducatd|g; s|$DUCAT|ducat|g")"
    "$@" > out.txt 2>&1
    rc=$?
    sed 's/^/     /' out.txt
    [ "$rc" -eq "$want" ] || fail "expected exit $want, got $rc from: $*"
}
# json_int FILE KEY: first integer value of "KEY" in a JSON line
json_int() { sed -n "s/.*\"$2\":\(-\{0,1\}[0-9]*\).*/\1/p" "$1" | head -1; }
expect_eq() { [ "$1" = "$2" ] || fail "$3: got '$1', expected '$2'"; }

export DUCAT_PASSPHRASE="correct horse battery staple"
alice() { "$DUCAT" --wallet "$T/alice.wallet" "$@"; }
bob() { "$DUCAT" --wallet "$T/bob.wallet" "$@"; }
carol() { "$DUCAT" --wallet "$T/carol.wallet" "$@"; }
dave() { "$DUCAT" --wallet "$T/dave.wallet" "$@"; }
op() { "$DUCATD" -c "$T/bank/ducat.conf" "$@"; }

# ---------------------------------------------------------------------------
step "The operator (a bank) creates its ducatd instance on SQLite and starts it on a free port"
run "$DUCATD" init "$T/bank"
# The shipped calendar covers 2025 and 2026 only. Run later (or in the last
# weeks of 2026), Carol's deposit would get a provisional release date (by
# design: a year whose holidays are unpublished may not be guessed), which is
# not the story told here; so the demo then uses the test calendar, the
# shipped one plus weekends-only years to 2040, and says so.
left=$("$DUCATD" -c "$T/bank/ducat.conf" calendar show | sed -n 's/.*, \(-\{0,1\}[0-9]*\) days left.*/\1/p')
if [ -z "$left" ] || [ "$left" -lt 45 ]; then
    cp "$ROOT/tests/api/calendar-test.txt" "$T/bank/calendar.txt" || fail "no test calendar"
    say "the shipped calendar (2025-2026) ends in less than 45 days or has ended: this demo uses"
    say "tests/api/calendar-test.txt (2025-2026 as shipped, then weekends only up to 2040), a"
    say "TEST calendar, so release dates are firm; a real operator loads the official calendar"
    say "of the next year instead (ducatd calendar load FILE, docs/OPERATIONS.md)."
fi
"$DUCATD" -c "$T/bank/ducat.conf" serve --listen 127.0.0.1:0 --port-file "$T/bank/port" \
    > "$T/bank/server.log" 2>&1 &
SERVER_PID=$!
i=0
while [ ! -s "$T/bank/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -s "$T/bank/port" ] || fail "ducatd did not start: $(tail -3 "$T/bank/server.log")"
URL="http://127.0.0.1:$(cat "$T/bank/port")"
say "ducatd serves $URL (pid $SERVER_PID)"

step "Alice, Bob, Carol and Dave (a shopkeeper) each create a wallet on their device"
for who in alice bob carol dave; do
    run "$DUCAT" --wallet "$T/$who.wallet" --server "$URL" init --kdf min
done

step "They register with their real names; accounts start unverified"
run alice register --name "Alice Zhang" --national-id 110101199003070011 --phone +8613800000001
run bob register --name "Bob Li" --national-id 110101198805120035 --phone +8613800000002
run carol register --name "Carol Wang" --national-id 110101199511230024 --phone +8613800000003
run dave register --name "Dave Chen" --national-id 110101197701010016 --phone +8613800000004
ACC_A=$(alice --json info | sed -n 's/.*"account":\([0-9]*\).*/\1/p')
ACC_B=$(bob --json info | sed -n 's/.*"account":\([0-9]*\).*/\1/p')
ACC_C=$(carol --json info | sed -n 's/.*"account":\([0-9]*\).*/\1/p')
ACC_D=$(dave --json info | sed -n 's/.*"account":\([0-9]*\).*/\1/p')
say "accounts: Alice $ACC_A, Bob $ACC_B, Carol $ACC_C, Dave $ACC_D"
refused 1 alice withdraw 10
say "(an unverified account cannot download coins)"

step "The operator checks their identity papers and verifies the four accounts"
run op accounts list --status unverified
for a in $ACC_A $ACC_B $ACC_C $ACC_D; do run op accounts verify "$a"; done
for who in alice bob carol dave; do run "$DUCAT" --wallet "$T/$who.wallet" sync; done

step "The operator funds Alice's account with 1000.00 (cash-in)"
run op fund "$ACC_A" 1000.00
run alice balance
alice --json balance > b.json
expect_eq "$(json_int b.json available)" 100000 "Alice's available balance"

step "Alice pays Bob 50.00 online, account to account"
run alice pay "$ACC_B" 50.00 --memo "dinner"
bob --json balance > b.json
expect_eq "$(json_int b.json available)" 5000 "Bob's available balance"
say "Bob's account received 50.00 at once"

step "Alice downloads 100.00 into her offline wallet: her online balance drops by 100.00"
run alice withdraw 100.00
run alice balance
alice --json balance > b.json
expect_eq "$(json_int b.json available)" 85000 "Alice's available balance after the withdrawal"
expect_eq "$(json_int b.json offline_coins)" 10000 "Alice's offline coins"
run alice coins

step "Alice copies her wallet file as a backup (she will misuse it later)"
cp "$T/alice.wallet" "$T/alice-backup.wallet"
say "backup taken: $T/alice-backup.wallet"

step "Offline, over TCP (standing in for NFC): Bob asks 30.00, Alice pays by splitting 100.00 = 30.00 + 70.00"
rm -f bob.port
bob receive --listen 127.0.0.1:0 --port-file "$T/bob.port" --amount 30.00 > bob-recv.txt 2>&1 &
RECV=$!
i=0
while [ ! -s bob.port ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -s bob.port ] || fail "bob's receive did not start: $(cat bob-recv.txt)"
say "no server involved from here on: only the two devices"
run alice send --to "127.0.0.1:$(cat bob.port)"
wait $RECV || fail "bob's receive failed: $(cat bob-recv.txt)"
say "Bob's side showed:"
sed 's/^/     /' bob-recv.txt
run alice coins --all
alice --json balance --offline > b.json
expect_eq "$(json_int b.json offline_coins)" 7000 "Alice's offline coins after paying 30.00"
bob --json balance --offline > b.json
expect_eq "$(json_int b.json offline_coins)" 3000 "Bob's offline coins"

step "Offline, with text armor (a QR code, a file, a chat message): Bob pays Carol the 30.00 - a second hop"
run carol request 30.00
grep '^ducat:request:' out.txt > req.txt
run bob pay "$T/req.txt"
grep '^ducat:payment:' out.txt > pay.txt
run carol accept "$T/pay.txt"
grep '^ducat:receipt:' out.txt > rcpt.txt
run bob confirm "$T/rcpt.txt"
say "the same payment delivered twice is accepted once (the receipt is simply shown again):"
run carol accept "$T/pay.txt"
carol --json balance --offline > b.json
expect_eq "$(json_int b.json offline_coins)" 3000 "Carol's offline coins after a repeated delivery"

step "Carol deposits: credited at once, held in the frozen box for 15 working days"
run carol deposit
run carol balance
grep -q "provisional" out.txt && fail "Carol's release date should be firm"
carol --json balance > b.json
expect_eq "$(json_int b.json held)" 3000 "Carol's held balance"
expect_eq "$(json_int b.json available)" 0 "Carol's available balance"
grep -q "held until" out.txt 2>/dev/null || true

step "Alice restores the backup taken before she paid Bob, and spends the same coin again"
cp "$T/alice-backup.wallet" "$T/alice.wallet"
run alice coins
say "her restored wallet believes the 100.00 coin is unspent."
say "First she tries Bob again - Bob's wallet has seen that coin's history and refuses on the spot:"
run bob request 40.00
grep '^ducat:request:' out.txt > req2.txt
run alice pay "$T/req2.txt"
grep '^ducat:payment:' out.txt > pay2.txt
refused 1 bob accept "$T/pay2.txt"
say "Then she pays Dave's shop, which has never seen that coin: Dave cannot tell offline"
run dave request 60.00
grep '^ducat:request:' out.txt > req3.txt
run alice pay "$T/req3.txt"
grep '^ducat:payment:' out.txt > pay3.txt
run dave accept "$T/pay3.txt"

step "Dave deposits: the server finds the fork, opens a case with the evidence naming Alice"
run dave deposit
grep -q "double-spend case" out.txt || fail "Dave's deposit should fall under a double-spend case"
run op cases list
CASE=$(op cases list | awk 'NR > 1 { print $1; exit }')
[ -n "$CASE" ] || fail "no case was opened"
op cases show "$CASE" > case.json || fail "cases show failed"
say "case $CASE, in short (the full evidence is verifiable with the master public key alone):"
grep -E '"(serial|culprit|culprit_account|value|status|decision|reason)"' case.json |
    sed 's/^ */     /'
CULPRIT=$(sed -n 's/.*"culprit_account": *\([0-9]*\).*/\1/p' case.json)
expect_eq "$CULPRIT" "$ACC_A" "the culprit account named by the evidence"
say "the operator looks the culprit account up (real-name data stays server-side):"
run op accounts show "$CULPRIT"
grep -q 'Alice Zhang' out.txt || fail "the culprit account is not Alice's"

step "Alice's account is charged; the honest receivers' credits are safe"
run alice balance
alice --json balance > b.json
expect_eq "$(json_int b.json available)" 79000 "Alice's available balance (850.00 - 60.00 charged)"
run carol balance
carol --json balance > b.json
expect_eq "$(json_int b.json held)" 3000 "Carol's held credit"
run dave balance
dave --json balance > b.json
expect_eq "$(json_int b.json held)" 6000 "Dave's held credit"
say "Alice's device is now on the revocation list every wallet downloads at sync:"
run alice sync
grep -q "BLOCKED" out.txt || fail "Alice's device should be blocked"
run bob sync

step "The operator's audit proves conservation from the journal"
run op audit
grep -q "audit: OK" out.txt || fail "audit"

printf '\nThe demo told the whole story; every step behaved as described.\n'
