#!/usr/bin/env python3
"""tests/vectors_independent.py - checks tests/vectors/core.vec against a
computation that shares no code with ours: Ed25519 by the `openssl` command
(OpenSSL's own implementation, not libsodium) and BLAKE2b by Python's hashlib.
tests/vectors.sh only proves our generator still prints the same bytes; this
proves those bytes are what the documented formulas (docs/PROTOCOL.md) give:

  - master, signing-key and device public keys are Ed25519 of their seeds
    (a 32-byte seed filled with one byte, as the file's header says);
  - the key certificate is signed by the master key, each device certificate
    by the signing key, over "DUCATSIG" || body;
  - the coin's genesis is signed by the signing key over "DUCATSIG" || body;
    every later record by the owner of the time over "DUCATSIG" || body ||
    previous state;
  - state_0 = BLAKE2b-256("ducat/state/v1" 0x00 || genesis body), and each
    next state = BLAKE2b-256("ducat/state/v1" 0x00 || previous state ||
    record body [|| split part]).
Every signature is also checked with one bit flipped, which must fail, so the
check cannot pass by not checking. Output: "ok"/"FAIL" lines, then
"# N passed, M failed".
"""
import base64
import hashlib
import os
import subprocess
import sys
import tempfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
PKCS8_ED25519 = bytes.fromhex("302e020100300506032b657004220420")
SPKI_ED25519 = bytes.fromhex("302a300506032b6570032100")
SIG_CONTEXT = b"DUCATSIG"
STATE_LABEL = b"ducat/state/v1\0"
SUCCESSOR_LABEL = b"ducat/successor/v1\0"
ARMOR_LABEL = b"ducat-armor"
GENESIS, GENESIS_BODY = 241, 177
DEPOSIT, DEPOSIT_BODY = 82, 18
TRANSFER, TRANSFER_BODY = 208, 144
CERT, CERT_BODY = 126, 62
HEADER = 3

results = []
tmp = tempfile.mkdtemp(prefix="ducat-vec-")


def check(ok, what):
    results.append(bool(ok))
    print(("ok " if ok else "FAIL ") + what)


def write(name, data):
    path = os.path.join(tmp, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def openssl_pub(seed):
    key = write("key.der", PKCS8_ED25519 + seed)
    out = subprocess.run(["openssl", "pkey", "-inform", "DER", "-in", key, "-pubout",
                          "-outform", "DER"], capture_output=True, check=True).stdout
    return out[-32:]


def openssl_verify(pub, msg, sig):
    p = write("pub.der", SPKI_ED25519 + pub)
    m = write("msg", msg)
    s = write("sig", sig)
    r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey",
                        p, "-rawin", "-in", m, "-sigfile", s], capture_output=True)
    return r.returncode == 0


def sig_ok(pub, msg, sig, what):
    check(openssl_verify(pub, msg, sig), what + " (openssl)")
    bad = bytearray(msg)
    bad[len(bad) // 2] ^= 1
    check(not openssl_verify(pub, bytes(bad), sig), what + ": one flipped bit is refused")


def blake(*parts):
    h = hashlib.blake2b(digest_size=32)
    for p in parts:
        h.update(p)
    return h.digest()


def flip(data, i=None):
    """data with one bit of byte i (default: the middle one) flipped."""
    bad = bytearray(data)
    bad[len(bad) // 2 if i is None else i] ^= 1
    return bytes(bad)


def hash_ok(want, label, data, what):
    """want == BLAKE2b-256(label || data); the same with one input bit flipped must differ."""
    check(blake(label, data) == want, what + " (hashlib)")
    check(blake(label, flip(data)) != want, what + ": one flipped input bit changes it")


def check_successor(vec, coin):
    """successor_0: the identity of the record that consumes state_0 (coin_1's transfer)."""
    body = coin[HEADER + GENESIS:HEADER + GENESIS + TRANSFER_BODY]
    hash_ok(vec["successor_0"], SUCCESSOR_LABEL, body,
            "successor_0 = BLAKE2b-256(successor label, transfer body)")
    check(vec["successor_0"] != blake(SUCCESSOR_LABEL, coin[HEADER + GENESIS:
                                                             HEADER + GENESIS + TRANSFER]),
          "successor_0 excludes the signature")


def check_deposit(vec, pub, state_3):
    """coin_4 = coin_3 + carol's DEPOSIT record (13 01 account:u64 time:u64 sig:64)."""
    c4 = vec["coin_4"]
    c3 = vec["coin_3"]
    check(c4[2] == c3[2] + 1 and c4[3:len(c3)] == c3[3:] and len(c4) == len(c3) + DEPOSIT,
          "coin_4 is coin_3 and one deposit record")
    rec = c4[len(c3):]
    body, sig = rec[:DEPOSIT_BODY], rec[DEPOSIT_BODY:]
    check(body[:2] == b"\x13\x01" and int.from_bytes(body[2:10], "little") == 1001,
          "deposit record: tag 13, version 01, account 1001 (u64 little-endian)")
    t0, day = 1790000000000, 86400000
    check(int.from_bytes(body[10:18], "little") == t0 + day, "deposit record: time T0+DAY")
    sig_ok(pub["carol"], SIG_CONTEXT + body + state_3, sig, "deposit signed by carol over state_3")


def check_evidence(vec, pub):
    """The fork evidence, parsed from the documented layout alone."""
    ev = vec["evidence"]
    check(ev[:3] == b"\x30\x01\x01", "evidence: tag 30, version 01, one keycert")
    check(ev[3:3 + CERT] == vec["keycert"], "evidence: the keycert of signing key 1")
    off = 3 + CERT
    prefix = ev[off:off + HEADER + GENESIS + TRANSFER]
    check(prefix == vec["coin_1"], "evidence: the prefix is coin_1 (history up to state_1)")
    off += len(prefix)
    # succ_a, succ_b: the fork_branch transfer (tag 11) and the split of coin_2
    # (tag 12, without its part byte), in ascending byte order
    tr = vec["fork_branch"][len(prefix):]
    c2 = vec["coin_2"]
    sp = c2[len(prefix):-1]  # the split record without the part byte
    check(len(tr) == TRANSFER and len(sp) == 3 + 8 * 2 + 64, "the two successors' sizes")
    check(ev[off:] == tr + sp and tr < sp, "evidence: succ_a = bob's transfer to alice, succ_b = "
          "bob's split, ascending, nothing after")
    check(tr[:-64] != sp[:-64], "evidence: the successors' bodies differ")
    state_1 = vec["state_1"]
    sig_ok(pub["bob"], SIG_CONTEXT + tr[:-64] + state_1, tr[-64:],
           "evidence succ_a signed by bob over state_1")
    sig_ok(pub["bob"], SIG_CONTEXT + sp[:-64] + state_1, sp[-64:],
           "evidence succ_b signed by bob over state_1")
    # the culprit is the owner of state_1: the devcert coin_1 transfers to
    to = prefix[HEADER + GENESIS + 2:HEADER + GENESIS + 2 + CERT]
    check(to[6:38] == pub["bob"] and to[38:46] == b"bob\0\0\0\0\0",
          "evidence: the forked state's owner is bob (key and alias)")


def check_armor(vec):
    text = vec["armor_coin_1"]
    coin = vec["coin_1"]
    head = b"ducat:coin:1:"
    b64 = base64.urlsafe_b64encode(coin).rstrip(b"=")
    cks = blake(ARMOR_LABEL, head, coin)[:4].hex()
    want = (head + b64).decode() + ":" + cks
    check(text == want, "armor_coin_1 = header, base64url (no padding), BLAKE2b checksum")
    check(blake(ARMOR_LABEL, head, flip(coin))[:4].hex() != cks,
          "armor: one flipped payload bit changes the checksum")
    check(blake(ARMOR_LABEL, b"ducat:receipt:1:", coin)[:4].hex() != cks,
          "armor: the kind is under the checksum")


def main():
    vec = {}
    with open(os.path.join(ROOT, "tests/vectors/core.vec"), encoding="utf-8") as f:
        for line in f:
            if " = " in line and not line.startswith("#"):
                k, v = line.split(" = ", 1)
                try:
                    vec[k.strip()] = bytes.fromhex(v.strip())
                except ValueError:
                    vec[k.strip()] = v.strip()  # text: the armor
    seeds = {"master": 0x4D, "signing": 0x53, "alice": 0xA1, "bob": 0xB0, "carol": 0xCA}
    pub = {k: openssl_pub(bytes([v]) * 32) for k, v in seeds.items()}
    check(pub["master"] == vec["master_pub"], "master_pub is Ed25519 of seed 0x4d")
    check(pub["signing"] == vec["signing_pub"], "signing_pub is Ed25519 of seed 0x53")
    check(pub["alice"] == vec["alice_pub"], "alice_pub is Ed25519 of seed 0xa1")

    kc = vec["keycert"]
    check(len(kc) == CERT and kc[6:38] == pub["signing"], "keycert certifies signing_pub")
    sig_ok(pub["master"], SIG_CONTEXT + kc[:CERT_BODY], kc[CERT_BODY:], "keycert signed by master")
    for who in ("alice", "bob", "carol"):
        dc = vec[who + "_devcert"]
        check(len(dc) == CERT and dc[6:38] == pub[who], f"{who}_devcert names {who}'s key")
        sig_ok(pub["signing"], SIG_CONTEXT + dc[:CERT_BODY], dc[CERT_BODY:],
               f"{who}_devcert signed by the signing key")

    # genesis: signed by the issuer's signing key; state_0 from its body
    coin = vec["coin_genesis"]
    g = coin[HEADER:HEADER + GENESIS]
    sig_ok(pub["signing"], SIG_CONTEXT + g[:GENESIS_BODY], g[GENESIS_BODY:],
           "genesis signed by the signing key")
    state = blake(STATE_LABEL, g[:GENESIS_BODY])
    check(state == vec["state_0"], "state_0 = BLAKE2b-256(label, genesis body) (hashlib)")

    # the chain of coin_3: alice -> bob, bob splits (part 0), bob -> carol
    c3 = vec["coin_3"]
    off = HEADER + GENESIS
    steps = [("coin_1", "alice", "transfer", "state_1"), ("coin_2", "bob", "split", "state_2"),
             ("coin_3", "bob", "transfer", "state_3")]
    for name, signer, kind, sname in steps:
        if kind == "transfer":
            body, sig, extra = (c3[off:off + TRANSFER_BODY],
                                c3[off + TRANSFER_BODY:off + TRANSFER], b"")
            off += TRANSFER
        else:
            n = c3[off + 2]
            blen = 3 + 8 * n
            body, sig, extra = c3[off:off + blen], c3[off + blen:off + blen + 64], \
                c3[off + blen + 64:off + blen + 65]
            off += blen + 65
        # coin_k is coin_3 cut after its k-th record (only the count byte differs)
        check(vec[name][3:] == c3[3:off], f"{name} is coin_3 up to its record")
        sig_ok(pub[signer], SIG_CONTEXT + body + state, sig, f"{name}: {kind} signed by {signer}")
        state = blake(STATE_LABEL, state, body, extra)
        check(state == vec[sname], f"{sname} = BLAKE2b-256(label, previous state, record) "
              "(hashlib)")
    check_successor(vec, c3)
    check_deposit(vec, pub, state)
    check_evidence(vec, pub)
    check_armor(vec)
    failed = results.count(False)
    print(f"# {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)
