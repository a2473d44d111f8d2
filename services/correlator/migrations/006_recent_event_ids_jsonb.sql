-- Each alert's recent event ids as a JSON array: every state write sends them as JSON, and building a text[] from
-- it cost PostgreSQL ~20 % more CPU per upserted state row (docs/performance.md). Rewrites the table once.
ALTER TABLE alerts ALTER COLUMN recent_event_ids TYPE jsonb USING to_jsonb(recent_event_ids);
