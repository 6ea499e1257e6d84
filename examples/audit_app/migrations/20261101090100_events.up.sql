-- The audit trail: one row per action, partitioned by month on occurred_at.
-- Rows land in events_default until a monthly partition exists
-- (see the retention_partitions migration).
CREATE TABLE events (
	id          bigserial,
	occurred_at timestamptz NOT NULL DEFAULT now(),
	actor_id    bigint NOT NULL REFERENCES actors (id),
	action      text NOT NULL,
	object_type text NOT NULL,
	object_id   text,
	payload     jsonb NOT NULL DEFAULT '{}',
	PRIMARY KEY (id, occurred_at)
) PARTITION BY RANGE (occurred_at);

CREATE TABLE events_default PARTITION OF events DEFAULT;

CREATE INDEX events_actor_idx ON events (actor_id, occurred_at);
CREATE INDEX events_object_idx ON events (object_type, object_id, occurred_at);
