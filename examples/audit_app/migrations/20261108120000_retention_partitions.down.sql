-- Fold every monthly partition back into events_default, then drop the
-- functions and the policies. No row is lost.
DO $$
DECLARE
	part text;
BEGIN
	FOR part IN
		SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'events'::regclass AND c.relname ~ '^events_[0-9]{6}$'
	LOOP
		EXECUTE format('ALTER TABLE events DETACH PARTITION %I', part);
		EXECUTE format('INSERT INTO events SELECT * FROM %I', part);
		EXECUTE format('DROP TABLE %I', part);
	END LOOP;
END $$;

DROP FUNCTION audit_drop_expired_partitions(timestamptz);
DROP FUNCTION audit_ensure_partition(date);
DROP TABLE retention_policies;
