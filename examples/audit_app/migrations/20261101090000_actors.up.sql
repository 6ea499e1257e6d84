-- Who did something: a person, a service account, or the system itself.
CREATE TABLE actors (
	id           bigserial PRIMARY KEY,
	kind         text NOT NULL CHECK (kind IN ('user', 'service', 'system')),
	external_id  text NOT NULL,
	display_name text,
	created_at   timestamptz NOT NULL DEFAULT now(),
	UNIQUE (kind, external_id)
);

INSERT INTO actors (kind, external_id, display_name)
VALUES ('system', 'audit_app', 'audit_app itself');
