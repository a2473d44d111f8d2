-- How far an incident's alert_count has counted the correlator's per-group occurrence count
-- (CorrelatedAlert.group_occurrences); 0 for incidents opened before it: they count by their alerts until the
-- next update sets it.
ALTER TABLE incidents ADD COLUMN counted_to bigint NOT NULL DEFAULT 0;
