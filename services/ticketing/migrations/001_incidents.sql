-- Incidents, the alerts each one holds, per-alert applied sequences, and the outbox of incident events.
CREATE SEQUENCE incident_number;

CREATE TABLE incidents (
    id              uuid        PRIMARY KEY,
    number          text        NOT NULL UNIQUE,
    group_key       text        NOT NULL,
    title           text        NOT NULL,
    description     text        NOT NULL,
    status          text        NOT NULL,
    priority        smallint    NOT NULL,
    ci_id           text        NOT NULL,
    alert_count     bigint      NOT NULL,
    opened_at       timestamptz NOT NULL,
    acknowledged_at timestamptz,
    resolved_at     timestamptz,
    closed_at       timestamptz,
    updated_at      timestamptz NOT NULL,
    version         integer     NOT NULL
);
-- At most one open incident per group: a doubled incident is impossible, not merely unlikely.
CREATE UNIQUE INDEX incidents_one_open_per_group ON incidents (group_key)
    WHERE status IN ('new', 'in_progress', 'on_hold');
CREATE INDEX incidents_by_opened ON incidents (opened_at DESC, id DESC);
CREATE INDEX incidents_by_status ON incidents (status, opened_at DESC, id DESC);

CREATE TABLE incident_alerts (
    incident_id uuid     NOT NULL REFERENCES incidents (id),
    fingerprint text     NOT NULL,
    firing      boolean  NOT NULL,
    occurrences bigint   NOT NULL,
    severity    smallint NOT NULL,
    title       text     NOT NULL,
    PRIMARY KEY (incident_id, fingerprint)
);

-- The highest CorrelatedAlert sequence applied per fingerprint: a redelivered message changes nothing.
CREATE TABLE alert_sequences (
    fingerprint   text   PRIMARY KEY,
    last_sequence bigint NOT NULL
);

CREATE TABLE outbox (
    id          bigserial   PRIMARY KEY,
    event_id    uuid        NOT NULL UNIQUE,
    incident_id uuid        NOT NULL,
    sequence    bigint      NOT NULL,
    type        text        NOT NULL,
    payload     bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
