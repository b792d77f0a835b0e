-- The service filter of the incident list walks this index newest first and
-- stops at the page's end, instead of gathering every incident of the
-- service and sorting them. `declared_at_ms` never changes after declaration.
ALTER TABLE incident_services ADD COLUMN declared_at_ms INTEGER NOT NULL DEFAULT 0;
UPDATE incident_services
   SET declared_at_ms = (SELECT declared_at_ms FROM incidents WHERE id = incident_id);
CREATE INDEX incident_services_by_time
    ON incident_services (service, declared_at_ms DESC, incident_id DESC);
DROP INDEX incident_services_by_service;
