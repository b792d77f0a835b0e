-- The incident list filtered by status or severity (and service) walks one
-- of these indexes per value, or per pair of values, newest first, and stops
-- at the page's end: a status rare within a service or a severity is found
-- without walking every incident of it. Both new columns of
-- `incident_services` are rewritten with the incident on every write, as the
-- table's rows are.
ALTER TABLE incident_services ADD COLUMN status TEXT NOT NULL DEFAULT '';
ALTER TABLE incident_services ADD COLUMN severity TEXT NOT NULL DEFAULT '';
UPDATE incident_services
   SET status = (SELECT status FROM incidents WHERE id = incident_id),
       severity = (SELECT severity FROM incidents WHERE id = incident_id);
CREATE INDEX incident_services_by_status
    ON incident_services (service, status, declared_at_ms DESC, incident_id DESC);
CREATE INDEX incident_services_by_severity
    ON incident_services (service, severity, declared_at_ms DESC, incident_id DESC);
CREATE INDEX incident_services_by_status_severity
    ON incident_services (service, status, severity, declared_at_ms DESC, incident_id DESC);
CREATE INDEX incidents_by_status_severity
    ON incidents (status, severity, declared_at_ms DESC, id DESC);
