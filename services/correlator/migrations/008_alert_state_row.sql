-- The row `store.save` sends per alert state, in `store.state_row`'s order: one array of these instead of one array
-- per column. The client checked every element of 27 arrays for being a nested array; with one array of rows it
-- checks each row once, and the upsert costs the correlator a third less CPU per row (docs/performance.md).
CREATE TYPE alert_state_row AS (
    fingerprint text, firing boolean, severity smallint, title text, description text, source text, labels text,
    first_seen timestamptz, last_seen timestamptz, occurrences bigint, sequence bigint, recent_event_ids text,
    group_key text, grouping_key text, ci_id text, binding text, root_ci_id text, known_error_id text,
    change_id text, window_id text, suppressed boolean, during_change boolean, flap text, announced boolean,
    expires_at timestamptz, expired boolean, tell_at timestamptz
);
