-- ducatd schema, version 2 (SQLite): freezing an account is no longer a
-- status. Verification (who the holder is) and freezing (whether the
-- account may move money) are independent: verifying a frozen account
-- keeps it frozen, unfreezing an unverified one leaves it unverified.
-- Every operator action on an account is an event with who, when and why.

ALTER TABLE accounts ADD COLUMN frozen INTEGER NOT NULL DEFAULT 0 CHECK (frozen IN (0, 1));

-- version 1 kept a frozen account as status 2 and verified it on unfreeze;
-- such an account stays frozen and counts as verified, as it did before
UPDATE accounts SET frozen = 1, status = 1 WHERE status = 2;

-- the payer's note on a transfer, shown in both parties' history
ALTER TABLE journal ADD COLUMN memo TEXT NOT NULL DEFAULT '';

CREATE TABLE account_events (
    id      INTEGER PRIMARY KEY,
    account INTEGER NOT NULL REFERENCES accounts(id),
    time    INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    reason  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX account_events_account ON account_events(account, id);
CREATE INDEX case_events_case ON case_events(case_id, id);

-- holds.deposit was left 0 for a deposit's ordinary holds (only frozen or
-- provisional ones were rewritten with it); recover it from deposit_coins
CREATE INDEX deposit_coins_hold ON deposit_coins(hold);
UPDATE holds SET deposit = (SELECT d.deposit FROM deposit_coins d WHERE d.hold = holds.id)
WHERE deposit = 0 AND EXISTS (SELECT 1 FROM deposit_coins d WHERE d.hold = holds.id);
