-- Occurrences of each group key's announced alerts, ever (CorrelatedAlert.group_occurrences): an incident counts
-- its alerts from it, so repeats need not each be told. Keys grouped before this count from 0.
ALTER TABLE group_instances ADD COLUMN occurrences bigint NOT NULL DEFAULT 0;
