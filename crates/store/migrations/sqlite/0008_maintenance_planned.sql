-- The window as planned at creation: ending a window early (or cancelling
-- one not started) moves starts_at/ends_at to what happened; these stay, so
-- actual and planned duration can be compared. Existing rows: as they are.
ALTER TABLE maintenance_windows ADD COLUMN planned_starts_at_ms INTEGER;
ALTER TABLE maintenance_windows ADD COLUMN planned_ends_at_ms INTEGER;
UPDATE maintenance_windows SET planned_starts_at_ms = starts_at_ms, planned_ends_at_ms = ends_at_ms;
