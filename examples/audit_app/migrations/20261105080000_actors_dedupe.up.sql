-- IRREVERSIBLE (no down file, on purpose): external ids are now compared
-- case-insensitively. Actors that differ only in case are merged into the
-- oldest one and their events re-pointed; which rows were merged is not
-- kept, so this cannot be undone by SQL. Rolling back across it takes a
-- data restore (ballast-deploy's data_restore policy).
WITH ranked AS (
	SELECT id,
	       min(id) OVER (PARTITION BY kind, lower(external_id)) AS keep
	FROM actors
)
UPDATE events e
SET actor_id = r.keep
FROM ranked r
WHERE e.actor_id = r.id AND r.id <> r.keep;

DELETE FROM actors a
USING actors older
WHERE a.kind = older.kind
  AND lower(a.external_id) = lower(older.external_id)
  AND older.id < a.id;

ALTER TABLE actors DROP CONSTRAINT actors_kind_external_id_key;
CREATE UNIQUE INDEX actors_kind_external_id_ci ON actors (kind, lower(external_id));
