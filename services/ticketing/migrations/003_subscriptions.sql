-- Webhook subscriptions, their deliveries (one row per relayed event and matching subscription), and the
-- durable outcome counts behind triage_webhook_deliveries_total, so the counter is right after a restart.
CREATE TABLE subscriptions (
    id          uuid        PRIMARY KEY,
    url         text        NOT NULL,
    event_types text[]      NOT NULL,  -- '{*}' means every type
    -- The shared HMAC key: kept as given because signing needs it; never returned by the API, never logged.
    secret      text        NOT NULL,
    description text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text        NOT NULL
);

CREATE TABLE webhook_deliveries (
    id               bigserial   PRIMARY KEY,  -- insertion order = outbox order: a subscription's queue order
    subscription_id  uuid        NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    event_id         uuid        NOT NULL,
    incident_id      uuid        NOT NULL,
    type             text        NOT NULL,
    payload          bytea       NOT NULL,  -- the IncidentEvent protobuf, rendered as CloudEvents at send time
    status           text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts         integer     NOT NULL DEFAULT 0,
    -- When a pending delivery is due. A worker's claim pushes it past the HTTP timeout (a lease) and uses the
    -- value as its fencing token, so a crashed worker's delivery falls due again and a late worker's result
    -- for a delivery claimed since by another is ignored.
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_status_code integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    UNIQUE (subscription_id, event_id)
);
-- The head of each subscription's queue (its oldest pending delivery) in O(log n) per subscription.
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (subscription_id, id) WHERE status = 'pending';
-- The API's listing by subscription and status, newest first.
CREATE INDEX webhook_deliveries_by_status ON webhook_deliveries (subscription_id, status, id);
-- Pruning of old delivered rows.
CREATE INDEX webhook_deliveries_delivered ON webhook_deliveries (delivered_at) WHERE status = 'delivered';

-- Delivery attempt outcomes, counted in the transaction that records each attempt.
CREATE TABLE webhook_outcomes (
    outcome text   PRIMARY KEY CHECK (outcome IN ('delivered', 'retried', 'dead')),
    n       bigint NOT NULL
);
INSERT INTO webhook_outcomes (outcome, n) VALUES ('delivered', 0), ('retried', 0), ('dead', 0);
