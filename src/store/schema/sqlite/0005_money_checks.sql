-- 0005: money columns hold int64 only (issue 12).
--
-- SQLite stores an integer expression that overflows int64 as a REAL, and a
-- column of INTEGER affinity keeps a REAL it cannot convert: before this,
-- an overflowing sum was written silently (a balance of -1.38e19, 0.01
-- gone). The balance updates now refuse overflow themselves
-- (store_sqlite.c, S_BAL_*); these triggers are the schema's own guard for
-- every other writer, the CHECK constraints SQLite cannot add to an existing
-- table without rebuilding it. A row written behind their back is reported
-- by the audit as CORRUPTED.
CREATE TRIGGER accounts_money_insert BEFORE INSERT ON accounts
WHEN typeof(NEW.available) <> 'integer' OR typeof(NEW.held) <> 'integer'
  OR typeof(NEW.offline_limit) <> 'integer'
BEGIN
    SELECT RAISE(ABORT, 'accounts: a balance or limit that is not an int64');
END;

CREATE TRIGGER accounts_money_update BEFORE UPDATE OF available, held, offline_limit ON accounts
WHEN typeof(NEW.available) <> 'integer' OR typeof(NEW.held) <> 'integer'
  OR typeof(NEW.offline_limit) <> 'integer'
BEGIN
    SELECT RAISE(ABORT, 'accounts: a balance or limit that is not an int64');
END;

CREATE TRIGGER journal_money_insert BEFORE INSERT ON journal
WHEN typeof(NEW.amount) <> 'integer'
BEGIN
    SELECT RAISE(ABORT, 'journal: an amount that is not an int64');
END;

-- A signing key revoked for rotation (retired) rather than for compromise:
-- coins it signed before stay depositable (docs/OPERATIONS.md).
ALTER TABLE signing_keys ADD COLUMN retired INTEGER NOT NULL DEFAULT 0 CHECK (retired IN (0, 1));
