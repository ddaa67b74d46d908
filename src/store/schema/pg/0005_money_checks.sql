-- 0005: money columns hold int64 only (issue 12). On PostgreSQL the
-- BIGINT type is that check: a non-integer or a value outside int64 is
-- refused (an overflowing balance update fails with SQLSTATE 22003, which
-- the store reports as DC_ERR_AMOUNT_OVERFLOW, and the transaction rolls
-- back). Kept as a numbered step so both backends share the schema history;
-- the constraints below name the rule in the catalogue.
ALTER TABLE journal ADD CONSTRAINT journal_amount_int64 CHECK (amount BETWEEN 1 AND 9223372036854775807);
ALTER TABLE accounts ADD CONSTRAINT accounts_offline_limit_int64
    CHECK (offline_limit BETWEEN 0 AND 9223372036854775807);

-- A signing key revoked for rotation (retired) rather than for compromise:
-- coins it signed before stay depositable (docs/OPERATIONS.md).
ALTER TABLE signing_keys ADD COLUMN retired BIGINT NOT NULL DEFAULT 0 CHECK (retired IN (0, 1));
