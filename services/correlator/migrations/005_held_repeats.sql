-- A repeat held back (CORRELATOR_REPEAT_INTERVAL_SECONDS): when the sweep tells it, if no sighting has first.
ALTER TABLE alerts ADD COLUMN tell_at timestamptz;
CREATE INDEX alerts_tell_at ON alerts (tell_at) WHERE tell_at IS NOT NULL;
