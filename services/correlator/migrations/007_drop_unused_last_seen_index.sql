-- No query reads alerts by last_seen (the sweep finds due alerts by expires_at and tell_at), and last_seen moves on
-- every sighting, so the index only cost an entry per state write.
DROP INDEX IF EXISTS alerts_firing_last_seen;
