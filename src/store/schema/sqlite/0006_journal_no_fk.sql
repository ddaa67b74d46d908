-- 0006 (issue 15): on PostgreSQL the journal's foreign keys to accounts go
-- (schema/pg/0006_journal_no_fk.sql: each cost a row lock on both
-- accounts). SQLite's foreign key checks are plain index lookups under its
-- single writer and stay; this step keeps both backends' schema history in
-- step.
SELECT 1;
