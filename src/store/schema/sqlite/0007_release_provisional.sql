-- ducatd schema, version 6 (SQLite): a release date the calendar cannot vouch for.
-- A hold whose working-day window reaches a day the loaded calendar does not
-- cover has only a guessed release date (weekends alone there): it is kept
-- (release_provisional = 1), never released, and recomputed when a calendar
-- covering its window is loaded (`ducatd calendar load`, docs/OPERATIONS.md).
-- Holds made before this version are checked by ducatd at its next start.
ALTER TABLE holds ADD COLUMN release_provisional INTEGER NOT NULL DEFAULT 0
    CHECK (release_provisional IN (0, 1));
CREATE INDEX holds_release_provisional ON holds(release_provisional, status);
