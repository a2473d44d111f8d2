-- window_links.group_key holds the group instance ("<key>@<opened_at>"); incident_key is the group key the
-- alert was emitted under on alerts.correlated, the key ticketing opens incidents by, so "which incidents
-- does this change explain" is answerable by key.
ALTER TABLE window_links ADD COLUMN incident_key text;
UPDATE window_links SET incident_key = regexp_replace(group_key, '@[^@]*$', '');
ALTER TABLE window_links ALTER COLUMN incident_key SET NOT NULL;
CREATE INDEX window_links_by_window ON window_links (window_kind, window_id, incident_key);
