-- forcegate schema, version 2: the audit log is pruned by age (settings: audit_retention_days),
-- which needs an index on the event time.
CREATE INDEX audit_events_by_time ON audit_events (at);
