-- ITIL incidents: impact/urgency, CI and service, assignment, known error, change, SLA clocks and marks,
-- audit history and work notes, and the durable counts behind the SLA metrics.
ALTER TABLE incidents
    ADD COLUMN impact               smallint    NOT NULL DEFAULT 2,
    ADD COLUMN urgency              smallint    NOT NULL DEFAULT 2,
    ADD COLUMN ci_name              text        NOT NULL DEFAULT '',
    ADD COLUMN affected_ci_ids      text[]      NOT NULL DEFAULT '{}',
    ADD COLUMN service              text        NOT NULL DEFAULT '',
    ADD COLUMN assignment_group     text        NOT NULL DEFAULT '',
    ADD COLUMN assignee             text        NOT NULL DEFAULT '',
    ADD COLUMN known_error_id       text        NOT NULL DEFAULT '',
    ADD COLUMN workaround           text        NOT NULL DEFAULT '',
    ADD COLUMN change_id            text        NOT NULL DEFAULT '',
    ADD COLUMN during_change        boolean     NOT NULL DEFAULT false,
    ADD COLUMN flapping             boolean     NOT NULL DEFAULT false,
    ADD COLUMN previous_incident_id uuid        REFERENCES incidents (id),
    ADD COLUMN resolution_code      text        NOT NULL DEFAULT '',
    ADD COLUMN resolution_notes     text        NOT NULL DEFAULT '',
    ADD COLUMN responded_at         timestamptz,
    -- Resolution-clock pauses [[start, end or null while running], ...]: holds, and resolved-then-reopened spans.
    ADD COLUMN pauses               jsonb       NOT NULL DEFAULT '[]',
    -- Highest share of each SLA target evaluated so far: warnings fire once, a breach is never un-recorded.
    ADD COLUMN response_reached     double precision NOT NULL DEFAULT 0,
    ADD COLUMN resolution_reached   double precision NOT NULL DEFAULT 0,
    ADD COLUMN sla_check_at         timestamptz,
    -- The number's sequence value: the order incidents were opened in, whatever their alert times say.
    ADD COLUMN seq                  bigint;

UPDATE incidents SET responded_at = coalesce(acknowledged_at, resolved_at), seq = substring(number FROM 4)::bigint;
ALTER TABLE incidents ALTER COLUMN seq SET NOT NULL;

-- The SLA timer reads only incidents due for a look, through this index: never a scan of every incident.
CREATE INDEX incidents_sla_due ON incidents (sla_check_at) WHERE sla_check_at IS NOT NULL;
-- The group's latest incident (open, or resolved within the reopen window).
CREATE INDEX incidents_by_group ON incidents (group_key, seq DESC);
-- Resolved incidents waiting to be closed automatically.
CREATE INDEX incidents_resolved ON incidents (resolved_at) WHERE status = 'resolved';
CREATE INDEX incidents_by_priority ON incidents (priority, opened_at DESC, id DESC);
CREATE INDEX incidents_by_ci ON incidents USING gin (affected_ci_ids);
CREATE INDEX incidents_by_root_ci ON incidents (ci_id, opened_at DESC, id DESC);
CREATE INDEX incidents_by_service ON incidents (service, opened_at DESC, id DESC);
CREATE INDEX incidents_by_group_assigned ON incidents (assignment_group, opened_at DESC, id DESC);

ALTER TABLE incident_alerts
    ADD COLUMN ci_id          text     NOT NULL DEFAULT '',
    ADD COLUMN ci_criticality smallint NOT NULL DEFAULT 0,
    ADD COLUMN service        text     NOT NULL DEFAULT '',
    ADD COLUMN flapping       boolean  NOT NULL DEFAULT false,
    -- Start of the alert's current firing period: a new one means its occurrences count from 1 again.
    ADD COLUMN first_seen     timestamptz;

-- Every change of every incident, who made it and what it changed: the audit trail.
CREATE TABLE incident_history (
    id          bigserial   PRIMARY KEY,
    incident_id uuid        NOT NULL REFERENCES incidents (id),
    version     integer     NOT NULL,
    at          timestamptz NOT NULL,
    actor       text        NOT NULL,
    type        text        NOT NULL,
    changes     jsonb       NOT NULL DEFAULT '{}',
    note        text        NOT NULL DEFAULT ''
);
CREATE INDEX incident_history_by_incident ON incident_history (incident_id, id);

CREATE TABLE work_notes (
    id          bigserial   PRIMARY KEY,
    incident_id uuid        NOT NULL REFERENCES incidents (id),
    at          timestamptz NOT NULL,
    author      text        NOT NULL,
    text        text        NOT NULL
);
CREATE INDEX work_notes_by_incident ON work_notes (incident_id, id);

-- Durable counter and histogram samples (name, canonical label JSON), added to in each change's transaction.
CREATE TABLE metric_counts (
    name   text             NOT NULL,
    labels text             NOT NULL,
    value  double precision NOT NULL,
    PRIMARY KEY (name, labels)
);
-- Incidents that existed before: count their openings and resolutions once.
INSERT INTO metric_counts (name, labels, value)
SELECT 'triage_incidents_opened_total', '[["priority","' || priority || '"]]', count(*) FROM incidents GROUP BY priority
UNION ALL
SELECT 'triage_incidents_resolved_total', '[["priority","' || priority || '"]]', count(*)
FROM incidents WHERE resolved_at IS NOT NULL GROUP BY priority;
