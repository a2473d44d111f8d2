-- Each alert's recent event ids as a JSON array: every state write sends them as JSON, and a text[] column cost
-- PostgreSQL ~3x the CPU per upserted row to build (see docs/performance.md).
ALTER TABLE alerts ALTER COLUMN recent_event_ids TYPE jsonb USING to_jsonb(recent_event_ids);
