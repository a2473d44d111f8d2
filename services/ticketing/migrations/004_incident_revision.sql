-- Bumped by every write of an incident (pipeline, API, SLA timer), so a copy held in memory by the pipeline can
-- tell whether it is still what the table holds without reading the incident and all its alerts again.
ALTER TABLE incidents ADD COLUMN revision bigint NOT NULL DEFAULT 0;
