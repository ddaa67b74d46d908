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
GENESIS, GENESIS_BODY = 241, 177
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


def main():
    vec = {}
    with open(os.path.join(ROOT, "tests/vectors/core.vec"), encoding="utf-8") as f:
        for line in f:
            if " = " in line and not line.startswith("#"):
                k, v = line.split(" = ", 1)
                try:
                    vec[k.strip()] = bytes.fromhex(v.strip())
                except ValueError:
                    pass  # text (the armor), checked by tests/vectors.sh
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
