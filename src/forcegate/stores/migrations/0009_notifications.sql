-- forcegate schema, version 9: the outbox of notifications to FORCEGATE_NOTIFY_URL (issue 14).

-- One row per event, whoever noticed it first: event_id is deterministic
-- (certificate.expiring:<fingerprint>:<org>:<threshold>, enrollment.pending_approval:<enrollment>), so
-- every worker of every host may insert it and only the first insert counts. payload is the JSON
-- body sent (public facts only: no code, token or secret). state: pending (to send, or being sent),
-- delivered (the receiver answered 2xx), failed (given up at give_up_at; `forcegate notifications
-- retry` sends it again). A sender claims a due row by moving next_attempt_at past its lease and
-- setting claim (a random value) in one compare-and-set, so two workers never send it at once; a
-- sender that dies leaves the row due again when the lease ends.
CREATE TABLE notifications (
    event_id TEXT NOT NULL PRIMARY KEY,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at DOUBLE PRECISION NOT NULL,
    next_attempt_at DOUBLE PRECISION NOT NULL,
    give_up_at DOUBLE PRECISION NOT NULL,
    claim TEXT,
    delivered_at DOUBLE PRECISION,
    last_error TEXT NOT NULL DEFAULT '',
    updated_at DOUBLE PRECISION NOT NULL
);
-- The senders' poll: the due pending rows, soonest first.
CREATE INDEX notifications_due ON notifications (state, next_attempt_at);
-- The listing (newest first) and the purge of old delivered and failed rows.
CREATE INDEX notifications_by_time ON notifications (updated_at);
