-- ducatd schema, version 1 (SQLite). Numbered migrations run in order, each
-- in its own transaction; schema_version in meta records the last applied.
-- Business rules live in C; the constraints here are the safety net.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE accounts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            INTEGER NOT NULL CHECK (kind BETWEEN 0 AND 3),
    status          INTEGER NOT NULL DEFAULT 0 CHECK (status BETWEEN 0 AND 2),
    offline_blocked INTEGER NOT NULL DEFAULT 0 CHECK (offline_blocked IN (0, 1)),
    name            TEXT NOT NULL DEFAULT '',
    national_id     TEXT NOT NULL DEFAULT '',
    phone           TEXT NOT NULL DEFAULT '',
    device_pub      BLOB UNIQUE CHECK (device_pub IS NULL OR length(device_pub) = 32),
    alias           BLOB UNIQUE CHECK (alias IS NULL OR length(alias) = 8),
    offline_limit   INTEGER NOT NULL DEFAULT 0 CHECK (offline_limit >= 0),
    available       INTEGER NOT NULL DEFAULT 0,
    held            INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    -- users never go negative; system accounts may (settlement, losses)
    CHECK (kind <> 0 OR (available >= 0 AND held >= 0))
);

-- user accounts are numbered from 1001; 1..3 are the system accounts
INSERT INTO sqlite_sequence(name, seq) VALUES ('accounts', 1000);

CREATE TABLE journal (
    id            INTEGER PRIMARY KEY,
    time          INTEGER NOT NULL,
    debit         INTEGER NOT NULL REFERENCES accounts(id),
    debit_bucket  INTEGER NOT NULL CHECK (debit_bucket IN (0, 1)),
    credit        INTEGER NOT NULL REFERENCES accounts(id),
    credit_bucket INTEGER NOT NULL CHECK (credit_bucket IN (0, 1)),
    amount        INTEGER NOT NULL CHECK (amount > 0),
    kind          TEXT NOT NULL,
    ref           TEXT NOT NULL DEFAULT ''
);
CREATE INDEX journal_debit ON journal(debit, id);
CREATE INDEX journal_credit ON journal(credit, id);

CREATE TABLE requests (
    account    INTEGER NOT NULL,
    request_id TEXT NOT NULL,
    body_hash  BLOB NOT NULL,
    status     INTEGER NOT NULL,
    response   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (account, request_id)
) WITHOUT ROWID;

-- serials begin with the big-endian issue time: inserts land at the right edge
CREATE TABLE coins (
    serial     BLOB PRIMARY KEY CHECK (length(serial) = 16),
    value      INTEGER NOT NULL CHECK (value > 0),
    account    INTEGER NOT NULL REFERENCES accounts(id),
    withdrawal INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    deposited  INTEGER NOT NULL DEFAULT 0 CHECK (deposited >= 0 AND deposited <= value)
) WITHOUT ROWID;

-- every state ever consumed, clustered by coin serial
CREATE TABLE consumed (
    serial    BLOB NOT NULL,
    state     BLOB NOT NULL,
    successor BLOB NOT NULL,
    dcoin     INTEGER NOT NULL,
    PRIMARY KEY (serial, state)
) WITHOUT ROWID;

CREATE TABLE deposit_coins (
    id         INTEGER PRIMARY KEY,
    deposit    INTEGER NOT NULL,
    account    INTEGER NOT NULL REFERENCES accounts(id),
    serial     BLOB NOT NULL,
    chain      BLOB NOT NULL,
    amount     INTEGER NOT NULL CHECK (amount > 0),
    hold       INTEGER NOT NULL,
    flagged    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX deposit_coins_serial ON deposit_coins(serial);

CREATE TABLE holds (
    id         INTEGER PRIMARY KEY,
    account    INTEGER NOT NULL REFERENCES accounts(id),
    amount     INTEGER NOT NULL CHECK (amount > 0),
    release_at INTEGER NOT NULL,
    status     INTEGER NOT NULL CHECK (status BETWEEN 0 AND 3),
    case_id    INTEGER NOT NULL DEFAULT 0,
    deposit    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    -- credited provisionally from the loss account (a double-spent branch)
    provisional INTEGER NOT NULL DEFAULT 0 CHECK (provisional IN (0, 1))
);
CREATE INDEX holds_account ON holds(account, id);
CREATE INDEX holds_due ON holds(status, release_at);
CREATE INDEX holds_case ON holds(case_id) WHERE case_id <> 0;

CREATE TABLE cases (
    id              INTEGER PRIMARY KEY,
    serial          BLOB NOT NULL,
    state           BLOB NOT NULL,
    culprit         BLOB NOT NULL,
    culprit_account INTEGER NOT NULL DEFAULT 0,
    value           INTEGER NOT NULL,
    exposure        INTEGER NOT NULL DEFAULT 0 CHECK (exposure >= 0),
    evidence        BLOB NOT NULL,
    status          INTEGER NOT NULL DEFAULT 0 CHECK (status IN (0, 1)),
    decision        TEXT NOT NULL DEFAULT '',
    actor           TEXT NOT NULL DEFAULT '',
    reason          TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    resolved_at     INTEGER NOT NULL DEFAULT 0,
    UNIQUE (serial, state)
);

CREATE TABLE case_events (
    id      INTEGER PRIMARY KEY,
    case_id INTEGER NOT NULL REFERENCES cases(id),
    time    INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    reason  TEXT NOT NULL DEFAULT ''
);

CREATE TABLE revoked (
    device  BLOB PRIMARY KEY,
    case_id INTEGER NOT NULL,
    time    INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE signing_keys (
    key_id     INTEGER PRIMARY KEY,
    keycert    BLOB NOT NULL,
    revoked_at INTEGER NOT NULL DEFAULT 0
);
