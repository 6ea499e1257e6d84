-- Monthly partitions of events and a retention policy per object type.

CREATE TABLE retention_policies (
	object_type text PRIMARY KEY,
	keep        interval NOT NULL CHECK (keep >= interval '1 month')
);
INSERT INTO retention_policies (object_type, keep) VALUES ('*', interval '13 months');

-- Create the partition for the month containing `day`, moving rows that
-- already sit in events_default into it (ATTACH refuses while the default
-- partition holds rows of the new range).
CREATE FUNCTION audit_ensure_partition(day date) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	lo   date := date_trunc('month', day)::date;
	hi   date := (date_trunc('month', day) + interval '1 month')::date;
	name text := format('events_%s', to_char(lo, 'YYYYMM'));
BEGIN
	IF to_regclass(name) IS NOT NULL THEN
		RETURN name;
	END IF;
	EXECUTE format('CREATE TABLE %I (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
	EXECUTE format('WITH moved AS (DELETE FROM events_default
	                               WHERE occurred_at >= %L AND occurred_at < %L RETURNING *)
	                INSERT INTO %I SELECT * FROM moved', lo, hi, name);
	EXECUTE format('ALTER TABLE events ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
	               name, lo, hi);
	RETURN name;
END $$;

-- Drop the monthly partitions entirely older than the longest policy.
CREATE FUNCTION audit_drop_expired_partitions(now_ timestamptz DEFAULT now())
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	horizon timestamptz := now_ - (SELECT max(keep) FROM retention_policies);
	part    record;
BEGIN
	FOR part IN
		SELECT c.relname,
		       to_date(substr(c.relname, 8), 'YYYYMM') AS lo
		FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'events'::regclass
		  AND c.relname ~ '^events_[0-9]{6}$'
	LOOP
		IF part.lo + interval '1 month' <= horizon THEN
			EXECUTE format('DROP TABLE %I', part.relname);
			RETURN NEXT part.relname;
		END IF;
	END LOOP;
END $$;

SELECT audit_ensure_partition((now() + make_interval(months => m))::date)
FROM generate_series(0, 2) AS m;
