-- ducatd schema, version 3 (SQLite): the double spender pays.
-- A fork case recovers its liability (the provisional credits of the later
-- branches, cases.exposure) from the culprit: her own credits of the forked
-- coin, her available balance, her other held credits, then every later
-- inflow. While any case against her is unsettled her account is a debtor
-- and sends nothing.

-- 1 while the account is the culprit of an unsettled case
ALTER TABLE accounts ADD COLUMN debtor INTEGER NOT NULL DEFAULT 0 CHECK (debtor IN (0, 1));

-- what has been recovered from the culprit (<= exposure), what an operator's
-- decision left to others (the shortfall when an honest hold fell due), and
-- how much of that later recoveries have paid back
ALTER TABLE cases ADD COLUMN recovered INTEGER NOT NULL DEFAULT 0 CHECK (recovered >= 0);
ALTER TABLE cases ADD COLUMN carried INTEGER NOT NULL DEFAULT 0 CHECK (carried >= 0);
ALTER TABLE cases ADD COLUMN repaid INTEGER NOT NULL DEFAULT 0 CHECK (repaid >= 0);
CREATE INDEX cases_culprit ON cases(culprit_account, status);

-- taken: value taken out of the hold (forfeited, recovered or reversed by a
-- case); amount is what is left in it. repaid: what later recoveries gave
-- back of a reversal. released_by: who or what released it.
ALTER TABLE holds ADD COLUMN taken INTEGER NOT NULL DEFAULT 0 CHECK (taken >= 0);
ALTER TABLE holds ADD COLUMN repaid INTEGER NOT NULL DEFAULT 0 CHECK (repaid >= 0);
ALTER TABLE holds ADD COLUMN released_by TEXT NOT NULL DEFAULT '';
