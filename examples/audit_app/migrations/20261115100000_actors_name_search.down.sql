-- ballast:no-transaction
DROP INDEX CONCURRENTLY IF EXISTS actors_display_name_idx;
