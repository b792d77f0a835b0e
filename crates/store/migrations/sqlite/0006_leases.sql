-- Singleton duties across replicas (health checks, the heartbeat monitor):
-- the replica holding an unexpired lease does the work; one that stops
-- renewing loses it when `until_ms` passes.
CREATE TABLE leases (
    name     TEXT NOT NULL PRIMARY KEY,
    holder   TEXT NOT NULL,
    until_ms INTEGER NOT NULL
);
