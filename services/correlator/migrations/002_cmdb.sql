-- CMDB, known errors, changes and maintenance windows (the correlator's reference data), the extra
-- per-alert correlation state, open group instances and heartbeats.

CREATE TABLE cis (
    id            text        PRIMARY KEY,
    name          text        NOT NULL,
    class         text        NOT NULL,
    environment   text        NOT NULL DEFAULT '',
    criticality   smallint    NOT NULL CHECK (criticality BETWEEN 1 AND 5),
    support_group text        NOT NULL DEFAULT '',
    aliases       text[]      NOT NULL DEFAULT '{}',
    attributes    jsonb       NOT NULL DEFAULT '{}',
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- source <kind> target: the source relies on the target (runs_on, depends_on, part_of).
CREATE TABLE relationships (
    source_id text NOT NULL REFERENCES cis (id) ON DELETE CASCADE,
    kind      text NOT NULL CHECK (kind IN ('runs_on', 'depends_on', 'part_of')),
    target_id text NOT NULL REFERENCES cis (id) ON DELETE CASCADE,
    PRIMARY KEY (source_id, kind, target_id)
);
CREATE INDEX relationships_target ON relationships (target_id);

-- The record as accepted (validated by known_errors.KnownErrorCatalog.build).
CREATE TABLE known_errors (
    id         text        PRIMARY KEY,
    record     jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE changes (
    id            text        PRIMARY KEY,
    ci_ids        text[]      NOT NULL,
    planned_start timestamptz NOT NULL,
    planned_end   timestamptz NOT NULL,
    state         text        NOT NULL,
    policy        text        NOT NULL CHECK (policy IN ('suppress', 'mark')),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE maintenance_windows (
    id         text        PRIMARY KEY,
    ci_ids     text[]      NOT NULL,
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL,
    policy     text        NOT NULL CHECK (policy IN ('suppress', 'mark')),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Bumped (and NOTIFY correlator_config sent) by every change to the tables above; each instance
-- rebuilds its in-memory snapshot when the version moves.
CREATE TABLE cmdb_version (
    singleton  boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    version    bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO cmdb_version (version) VALUES (0);

ALTER TABLE alerts
    -- group_key (from 001) holds the group instance id emitted downstream; grouping_key the stateless key.
    ADD COLUMN ci_id          text,
    ADD COLUMN binding        text        NOT NULL DEFAULT 'unbound',
    ADD COLUMN grouping_key   text        NOT NULL DEFAULT '',
    ADD COLUMN root_ci_id     text,
    ADD COLUMN known_error_id text,
    ADD COLUMN change_id      text,
    ADD COLUMN window_id      text,
    ADD COLUMN suppressed     boolean     NOT NULL DEFAULT false,
    ADD COLUMN during_change  boolean     NOT NULL DEFAULT false,
    ADD COLUMN flap           jsonb       NOT NULL DEFAULT '{}',
    ADD COLUMN announced      boolean     NOT NULL DEFAULT false,
    ADD COLUMN expires_at     timestamptz,
    ADD COLUMN expired        boolean     NOT NULL DEFAULT false;

-- Existing rows came from the skeleton, which emitted every firing alert.
UPDATE alerts SET announced = firing;

CREATE INDEX alerts_expires_at ON alerts (expires_at) WHERE expires_at IS NOT NULL;

-- The current instance of each group key (grouping.GroupInstance) and the CIs alerting in it.
CREATE TABLE group_instances (
    group_key   text        PRIMARY KEY,
    instance_id text        NOT NULL,
    root_ci_id  text,
    opened_at   timestamptz NOT NULL,
    last_at     timestamptz NOT NULL,
    affected    text[]      NOT NULL DEFAULT '{}'
);

CREATE TABLE heartbeats (
    name             text        PRIMARY KEY,
    interval_seconds integer     NOT NULL,
    last_beat_at     timestamptz NOT NULL,
    labels           jsonb       NOT NULL,
    summary          text        NOT NULL,
    missed           boolean     NOT NULL DEFAULT false
);

-- Every alert ever linked to a change or maintenance window, with the group key it was in, so
-- "incidents linked to change" stays answerable after the alert moved on.
CREATE TABLE window_links (
    window_kind text        NOT NULL CHECK (window_kind IN ('change', 'maintenance')),
    window_id   text        NOT NULL,
    fingerprint text        NOT NULL,
    group_key   text        NOT NULL,
    suppressed  boolean     NOT NULL,
    linked_at   timestamptz NOT NULL,
    PRIMARY KEY (window_kind, window_id, fingerprint, group_key)
);
