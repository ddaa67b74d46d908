#!/usr/bin/env python3
"""wal_pages.py - which tables and indexes a SQLite ducatd's commits write.

Usage: bench/wal_pages.py PATH/ducat.db [OPS_PER_COMMIT [SECONDS]]

Run it while ducatd is under load (e.g. `DUCAT_KEEP_TEST_DIRS=1
BENCH_PHASES=b make bench-server`, on the instance directory it prints, during
the timed window; ducatd checkpoints and empties the WAL when it stops). It
notes where the WAL ends, waits SECONDS (default 2), copies the database and
its WAL to a temporary directory (a frame half written by the copy is left
out: frames count only up to the last commit), reads the frames written in
between (all since the WAL restarted, if it did meanwhile), maps each frame's
page number to the table or index that owns the page (SQLite's dbstat
virtual table, on the copy) and prints the page writes per commit for each,
and per operation when OPS_PER_COMMIT (the mean commit batch the bench
prints) is given. Every frame is one page (512 bytes on a new database) plus
a 24-byte header, fsynced with its commit: these counts are what
"written per transfer" is made of, before the checkpoint copies the pages
back (docs/ARCHITECTURE.md, "The store").
"""
import collections
import os
import shutil
import sqlite3
import struct
import sys
import tempfile
import time


def main():
    if len(sys.argv) not in (2, 3, 4):
        sys.exit(__doc__.strip().splitlines()[2])
    db = sys.argv[1]
    per = float(sys.argv[2]) if len(sys.argv) >= 3 else 0
    wait = float(sys.argv[3]) if len(sys.argv) == 4 else 2.0
    with open(db + "-wal", "rb") as f:
        head = f.read(32)
        f.seek(0, os.SEEK_END)
        end0 = f.tell()
    time.sleep(wait)
    tmp = tempfile.mkdtemp(prefix="wal-pages-")
    try:
        copy = os.path.join(tmp, "copy.db")
        shutil.copy(db, copy)
        shutil.copy(db + "-wal", copy + "-wal")
        with open(copy + "-wal", "rb") as f:
            data = f.read()
        if len(data) < 32:
            sys.exit("no WAL frames (ducatd idle or stopped?)")
        page_size = struct.unpack(">I", data[8:12])[0]
        salt = data[16:24]
        frames, pending, commits = [], [], 0
        off = 32
        if len(head) == 32 and head[16:24] == salt and end0 > 32:
            # the same WAL generation: start at the first frame not yet there
            off = 32 + (end0 - 32) // (24 + page_size) * (24 + page_size)
        skip = off
        while off + 24 + page_size <= len(data):
            pgno, size_after = struct.unpack(">II", data[off:off + 8])
            if data[off + 8:off + 16] != salt:
                break  # an older generation of the WAL, overwritten in part
            pending.append(pgno)
            if size_after:  # a commit frame ends a transaction
                frames += pending
                pending = []
                commits += 1
            off += 24 + page_size
        # the copy must not replay the half-copied tail: cut it off
        with open(copy + "-wal", "r+b") as f:
            f.truncate(skip + len(frames) * (24 + page_size))
        con = sqlite3.connect(copy)
        owner = dict(con.execute("SELECT pageno, name || ' ' || pagetype FROM dbstat"))
        con.close()
    finally:
        shutil.rmtree(tmp)
    if not commits:
        sys.exit("no complete commit in the WAL yet")
    n = collections.Counter(owner.get(p, "(freed or new)") for p in frames)
    print("page size %d, %d commits in %.1f s, %.1f page writes per commit%s" %
          (page_size, commits, wait, len(frames) / commits,
           ", %.2f per operation" % (len(frames) / commits / per) if per else ""))
    for name, count in n.most_common():
        print("%8.1f per commit%s  %s" %
              (count / commits, "  %6.2f per op" % (count / commits / per) if per else "",
               name))


if __name__ == "__main__":
    main()
