-- ballast:no-transaction
-- Built without locking actors against writes; a failure half-way leaves
-- the migration dirty (ballast-migrate force) and an invalid index that
-- the IF NOT EXISTS below would keep, so it is dropped first.
DROP INDEX CONCURRENTLY IF EXISTS actors_display_name_idx;
CREATE INDEX CONCURRENTLY actors_display_name_idx ON actors (lower(display_name));
