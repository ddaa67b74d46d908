#!/usr/bin/env python3
"""tests/layers.py - the layering check of docs/ARCHITECTURE.md ("Modules and
dependencies"), run by `make check` like any test program (TAP-ish lines, then
"# N passed, M failed"; exit 1 on any failure).

What it enforces, each rule a numbered check below:
  1. includes: every quoted #include of a file in src/, include/ducat/ and
     tools/ names a header its module may use (the table MAY_INCLUDE); nothing
     includes server/ or cli/ from another module, nothing in src/ or tools/
     includes tests/ (fixture.h, test.h, harness.h); inside src/server, each
     role folder includes only the roles below it (SERVER_ROLES): an
     operator command never includes the HTTP layer, except that
     ops/cmd_serve.c starts it through http/serve.h;
  2. the core is pure: its system headers come from a short list, its objects
     call nothing outside libsodium, the mem*/str* functions and snprintf (no
     malloc, no I/O, no clock, no RNG), and hold no mutable global;
  3. crypto.c is the only caller of libsodium's Ed25519 (crypto_sign_*) in
     src/ and tools/, and the only caller of its hashes in the core;
  4. no two files of a module depend on each other: the graph "A calls or
     reads a symbol that B defines" over each module's objects has no cycle,
     except the dispatch cycles listed in KNOWN_CYCLES (a table file that
     names the handlers, handlers that call helpers in the table's file),
     each with the reason it is still there. A listed cycle that is gone
     fails too, so the list stays true;
  5. one checked-arithmetic helper for money: no hand-written int64 overflow
     test (INT64_MAX - x, INT64_MIN - x) or __builtin_*_overflow outside
     src/core/amount.c (dc_i64_add, dc_i64_sub, dc_i64_mul); time stamps are
     uint64 and not money, so UINT64_MAX tests are not concerned.

Objects come from $BUILD (default build): run it after `make all`.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
BUILD = os.environ.get("BUILD", "build")
if not os.path.isabs(BUILD):
    BUILD = os.path.join(ROOT, BUILD)

CORE_PUBLIC = {"err.h", "errors.def", "amount.h", "calendar.h", "armor.h", "coin.h", "auth.h",
               "codec.h", "crypto.h", "refusal.h"}
WALLET_PUBLIC = {"proto.h", "apdu.h", "offline.h", "wallet.h", "client.h", "service.h"}
# header-only, for the modules above the core (the core returns errors)
SHARED_PUBLIC = {"invariant.h"}
GENERATED = {"schema_sqlite.h", "schema_pg.h", "calendar_default.h", "console.h"}


def core_pub(h):
    return h.startswith("ducat/") and h[6:] in CORE_PUBLIC


def any_pub(h):
    return h.startswith("ducat/") and h[6:] in CORE_PUBLIC | WALLET_PUBLIC | SHARED_PUBLIC


def upper_pub(h):
    return core_pub(h) or h == "ducat/invariant.h"


# module -> predicate over a quoted include name (as written)
MAY_INCLUDE = {
    "include/core": lambda h: core_pub(h),
    "include/wallet": lambda h: any_pub(h),
    "src/core": lambda h: core_pub(h) or h.startswith("core/"),
    "src/store": lambda h: upper_pub(h) or h.startswith("store/") or h in GENERATED,
    "src/server": lambda h: upper_pub(h) or h == "store/store.h" or h.startswith("server/")
    or h in GENERATED,
    "src/wallet": lambda h: any_pub(h) or h.startswith("wallet/"),
    "src/cli": lambda h: any_pub(h) or h.startswith("cli/"),
    "tools": lambda h: core_pub(h) or h == "world.h",
}

CORE_SYSTEM_HEADERS = {"sodium.h", "stddef.h", "stdint.h", "stdbool.h", "string.h", "stdio.h",
                       "limits.h", "stdalign.h"}
CORE_CALLS = re.compile(r"^(dc_\w+|crypto_sign_ed25519_\w+|crypto_generichash\w*|sodium_\w+|"
                        r"mem(chr|cmp|cpy|move|set)|str(len|chr|cmp|ncmp)|snprintf|"
                        r"__stack_chk_fail|__\w+_chk|_GLOBAL_OFFSET_TABLE_|"
                        # instrumentation of a sanitizer build (make check-asan)
                        r"__(asan|ubsan|lsan|sanitizer)_\w+)$")

# Cycles still there, by module: the set of files and why. Shrink it.
KNOWN_CYCLES = {
    frozenset({"src/store/store.c", "src/store/store_pg.c"}):
    "dispatch: store.c opens a backend by URL scheme, store_pg.c uses store.c's dc_store_redact",
}

results = []


def check(ok, what, detail=""):
    results.append(ok)
    print(("ok " if ok else "FAIL ") + what + ("" if ok or not detail else ": " + detail))


def module_of(path):
    if path.startswith("include/ducat/"):
        return "include/wallet" if os.path.basename(path) in WALLET_PUBLIC else "include/core"
    for m in ("src/core", "src/store", "src/server", "src/wallet", "src/cli"):
        if path.startswith(m + "/"):
            return m
    if path.startswith("tools/"):
        return "tools"
    return None


def sources():
    out = []
    for d in ("include/ducat", "src", "tools"):
        for dp, _, fs in os.walk(os.path.join(ROOT, d)):
            for f in fs:
                if f.endswith((".c", ".h", ".def")):
                    out.append(os.path.relpath(os.path.join(dp, f), ROOT))
    return sorted(out)


INC = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def rule_includes():
    bad = []
    for p in sources():
        m = module_of(p)
        if not m:
            continue
        text = open(os.path.join(ROOT, p), encoding="utf-8").read()
        for kind, h in INC.findall(text):
            if kind == '"' and not MAY_INCLUDE[m](h):
                bad.append(f"{p} includes \"{h}\" ({m} may not)")
            if kind == "<" and m == "src/core" and h not in CORE_SYSTEM_HEADERS:
                bad.append(f"{p} includes <{h}> (the core is pure: no I/O, clock, threads, heap)")
    check(not bad, "1. every include stays inside what its module may use", "; ".join(bad))


# src/server by role (docs/ARCHITECTURE.md "src/server by role"): the
# folder of a file -> the folders it may include from. "" is the top of
# src/server: the context, configuration, key files and operator accounts
# that every role shares.
SERVER_ROLES = {
    "": {"", "obs", "ledger"},
    "obs": {"", "obs"},
    "ledger": {"", "obs", "ledger"},
    "render": {"", "ledger", "render"},
    "http": {"", "obs", "ledger", "render", "http"},
    "ops": {"", "obs", "ledger", "render", "ops"},
}
# The one door into a role from outside its folder: `ducatd serve` starts
# the HTTP layer.
SERVER_DOORS = {("src/server/ops/cmd_serve.c", "server/http/serve.h")}


def server_role(path):
    """Role folder of a path under src/server ("" for the top), or None."""
    rest = path[len("src/server/"):] if path.startswith("src/server/") else path[len("server/"):]
    return rest.split("/")[0] if "/" in rest else ""


def rule_server_roles():
    bad = []
    for p in sources():
        if not p.startswith("src/server/"):
            continue
        role = server_role(p)
        if role not in SERVER_ROLES:
            bad.append(f"{p} is in src/server/{role}/, a folder SERVER_ROLES does not know")
            continue
        text = open(os.path.join(ROOT, p), encoding="utf-8").read()
        for kind, h in INC.findall(text):
            if kind != '"' or not h.startswith("server/"):
                continue
            to = server_role(h)
            if to not in SERVER_ROLES[role] and (p, h) not in SERVER_DOORS:
                bad.append(f"{p} includes \"{h}\" (src/server/{role or '.'} may not include "
                           f"src/server/{to or '.'})")
    check(not bad, "1b. each role of src/server includes only the roles below it",
          "; ".join(bad))


def nm(obj):
    """(defined, undefined, mutable) symbols of an object. Mutable: data or
    bss, but not .data.rel.ro (const tables of pointers land there under
    -fPIC: written once by the loader, read-only afterwards)."""
    out = subprocess.run(["nm", "-f", "sysv", obj], capture_output=True, text=True,
                         check=True).stdout
    defined, undefined, mutable = set(), set(), []
    for line in out.splitlines():
        f = [x.strip() for x in line.split("|")]
        if len(f) < 7 or not f[0]:
            continue
        name, cls, section = f[0], f[2], f[6]
        if cls == "U":
            undefined.add(name)
            continue
        if cls in "TDBR":
            defined.add(name)
        if cls in "dDbB" and not section.startswith(".data.rel.ro"):
            mutable.append(name)
    return defined, undefined, mutable


def objects(module):
    """source -> object of every file of the module (its subfolders too),
    skipping objects whose source is gone (a file moved or deleted since
    that build directory was made)."""
    d = os.path.join(BUILD, module)
    out = {}
    for dp, _, fs in os.walk(d):
        for f in sorted(fs):
            if not f.endswith(".o"):
                continue
            src = os.path.relpath(os.path.join(dp, f[:-2] + ".c"), BUILD)
            if os.path.exists(os.path.join(ROOT, src)):
                out[src] = os.path.join(dp, f)
    return dict(sorted(out.items()))


def rule_core_pure():
    objs = objects("src/core")
    if not objs:
        check(False, "2. the core is pure", f"no objects in {BUILD}/src/core: run make all first")
        return
    bad = []
    for src, o in objs.items():
        _, und, mut = nm(o)
        calls = sorted(s for s in und if not CORE_CALLS.match(s))
        if calls:
            bad.append(f"{src} calls {', '.join(calls)}")
        if mut:
            bad.append(f"{src} has mutable globals {', '.join(mut)}")
    check(not bad, "2. the core calls no I/O, heap, clock or RNG and has no mutable global",
          "; ".join(bad))


def rule_crypto():
    bad = []
    for p in sources():
        if not p.endswith(".c") or p == "src/core/crypto.c":
            continue
        text = open(os.path.join(ROOT, p), encoding="utf-8").read()
        if re.search(r"\bcrypto_sign_\w+\s*\(", text):
            bad.append(f"{p} calls crypto_sign_*")
        if p.startswith("src/core/") and re.search(r"\bcrypto_generichash\w*\s*\(", text):
            bad.append(f"{p} calls crypto_generichash*")
    check(not bad, "3. crypto.c is the only caller of Ed25519 (and of hashes in the core)",
          "; ".join(bad))


def rule_one_helper():
    pat = re.compile(r"(?<!U)INT64_M(AX|IN)\s*[-+]|__builtin_\w+_overflow")
    bad = []
    for p in sources():
        if p == "src/core/amount.c" or not p.endswith((".c", ".h")):
            continue
        for n, line in enumerate(open(os.path.join(ROOT, p), encoding="utf-8"), 1):
            if pat.search(line):
                bad.append(f"{p}:{n}: {line.strip()}")
    check(not bad, "5. int64 sums are checked by dc_i64_add/sub/mul only", "; ".join(bad))


def sccs(graph):
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(frozenset(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def rule_cycles():
    found, missing = [], []
    for module in ("src/core", "src/store", "src/server", "src/wallet", "src/cli"):
        objs = objects(module)
        if not objs:
            missing.append(module)
            continue
        syms = {src: nm(o) for src, o in objs.items()}
        owner = {}
        for src, (defs, _, _) in syms.items():
            for s in defs:
                owner[s] = src
        graph = {src: {owner[s] for s in und if s in owner and owner[s] != src}
                 for src, (_, und, _) in syms.items()}
        found += sccs(graph)
    if missing:
        check(False, "4. no two files of a module depend on each other",
              f"no objects for {', '.join(missing)} in {BUILD}: run make all first")
        return
    new = [c for c in found if c not in KNOWN_CYCLES]
    gone = [c for c in KNOWN_CYCLES if c not in found]
    for c in found:
        if c in KNOWN_CYCLES:
            print(f"# known cycle {' <-> '.join(sorted(c))}: {KNOWN_CYCLES[c]}")
    detail = "; ".join([f"cycle {' <-> '.join(sorted(c))}" for c in new] +
                       [f"listed cycle {' <-> '.join(sorted(c))} is gone: delete it from "
                        "KNOWN_CYCLES" for c in gone])
    check(not new and not gone, "4. no two files of a module depend on each other "
          f"({len(KNOWN_CYCLES)} known dispatch cycles)", detail)


def main():
    rule_includes()
    rule_server_roles()
    rule_core_pure()
    rule_crypto()
    rule_cycles()
    rule_one_helper()
    failed = results.count(False)
    print(f"# {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
