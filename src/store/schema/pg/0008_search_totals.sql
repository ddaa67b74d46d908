-- ducatd schema, version 7 (PostgreSQL): the admin search and the frozen
-- box's totals read indexes, never the whole table (GET /v1/admin/accounts?q=,
-- GET /v1/admin/cases?q=, GET /v1/admin/summary, the /metrics gauges).
-- A name is found by a case-insensitive prefix of lower(name), compared in
-- byte order (COLLATE "C", as SQLite does) so that a range on this index
-- finds it whatever the database's collation; alias, device key and coin
-- serial prefixes are ranges on the UNIQUE indexes that exist already.
CREATE INDEX IF NOT EXISTS accounts_name_lower ON accounts ((lower(name) COLLATE "C"));
-- the totals: index-only sums per status
CREATE INDEX IF NOT EXISTS holds_status_amount ON holds(status, amount);
CREATE INDEX IF NOT EXISTS cases_status_exposure ON cases(status, exposure);
