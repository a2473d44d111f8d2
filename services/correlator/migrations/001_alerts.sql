-- Per-fingerprint alert state (consumer_offsets, written in the same transaction, is plumbing).
CREATE TABLE alerts (
    fingerprint      text        PRIMARY KEY,
    firing           boolean     NOT NULL,
    severity         smallint    NOT NULL,
    title            text        NOT NULL,
    description      text        NOT NULL,
    source           text        NOT NULL,
    labels           jsonb       NOT NULL,
    first_seen       timestamptz NOT NULL,
    last_seen        timestamptz NOT NULL,
    occurrences      bigint      NOT NULL,
    sequence         bigint      NOT NULL,
    recent_event_ids text[]      NOT NULL,
    group_key        text        NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX alerts_firing_last_seen ON alerts (last_seen) WHERE firing;
