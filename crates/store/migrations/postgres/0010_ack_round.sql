-- The incident's acknowledgement round a notification was decided in (one
-- more per reopen): its ack link works in that round only. Earlier rows were
-- all decided before any round was counted: 0.
ALTER TABLE notifications ADD COLUMN ack_round BIGINT NOT NULL DEFAULT 0;
