-- forcegate schema, version 4: fixed-window rate counters (settings: token_rate_limit).
-- One row per (counter, window); a hit is one INSERT ... ON CONFLICT DO UPDATE ... RETURNING, so
-- concurrent workers each get their own count. expires_at is the window's end: the periodic purge
-- deletes rows past it. No index on it: the table holds the current and the last window of each
-- active org only, so the purge's scan is short.
CREATE TABLE rate_counters (
    counter_key TEXT NOT NULL,
    window_start DOUBLE PRECISION NOT NULL,
    hits BIGINT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (counter_key, window_start)
);
