-- 0006 (issue 15): the journal's foreign keys to accounts go. Each checked
-- row took a key-share lock on both accounts (a write to their row headers
-- and a subtransaction-free MultiXact when rows are shared), about a third
-- of a single transfer's server time (docs/DEPLOY.md). What they guarded
-- still holds: accounts are never deleted (no statement of the store does),
-- and every posting moves the balances of its two accounts in the same
-- transaction, read there first (a deferred posting) or updated by the
-- same statement that inserts it (S_POST counts the rows it moved).
ALTER TABLE journal DROP CONSTRAINT IF EXISTS journal_debit_fkey;
ALTER TABLE journal DROP CONSTRAINT IF EXISTS journal_credit_fkey;
