-- ducatd schema, 0010 (SQLite, issue 12): fewer pages written per
-- transfer and per deposit. (1) The stored answers of money-moving requests
-- move to a rowid table with a UNIQUE index on (account, request_id).
-- (2) The journal's per-account indexes key on the account alone.
--
-- A WITHOUT ROWID table is an index b-tree, and an index b-tree keeps at most
-- (usable - 12) * 64 / 255 - 23 bytes of a row on its leaf: 102 bytes on the
-- 512-byte pages of a new database. A stored transfer answer is ~130 bytes
-- with its key and hash, so every row spilled onto an overflow page of its
-- own, and rows clustered by account put each commit's rows on as many
-- leaves as it had payers: 4.3 page writes per transfer (WAL frames, traced
-- per table with dbstat). A rowid table keeps up to usable - 35 bytes on a
-- leaf and appends at its right edge (three to four answers a page), and
-- the index entry per request is ~20 bytes: 1.4 page writes per transfer.
--
-- The rows are copied column by column (the answers byte for byte, as a
-- replay returns them); the step can run again on a database that has it.
CREATE TABLE requests_v10 (
    id         INTEGER PRIMARY KEY,
    account    INTEGER NOT NULL,
    request_id TEXT NOT NULL,
    body_hash  BLOB NOT NULL,
    status     INTEGER NOT NULL,
    response   TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
INSERT INTO requests_v10(account, request_id, body_hash, status, response, created_at)
    SELECT account, request_id, body_hash, status, response, created_at FROM requests
    ORDER BY created_at, account, request_id;
DROP TABLE requests;
ALTER TABLE requests_v10 RENAME TO requests;
CREATE UNIQUE INDEX requests_key ON requests(account, request_id);

-- (2) An index of a rowid table ends every entry with the rowid, and
-- journal.id is the rowid: journal(debit, id) stored the id twice (12 bytes
-- an entry where 8 do, ~27% more leaves and leaf splits). journal(debit)
-- keeps the same order (debit, then rowid) and serves the same plans (the
-- statement of an account, the audit's sums).
DROP INDEX IF EXISTS journal_debit;
DROP INDEX IF EXISTS journal_credit;
CREATE INDEX journal_debit ON journal(debit);
CREATE INDEX journal_credit ON journal(credit);
