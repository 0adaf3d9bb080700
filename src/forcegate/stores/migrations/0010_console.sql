-- forcegate schema, version 10: the admin console at /console (issue 15).

-- Named operators (`forcegate admin create-user NAME`). password_hash: an Argon2id PHC string
-- ($argon2id$v=19$m=…,t=…,p=…$salt$hash); the password itself is never stored.
CREATE TABLE console_operators (
    name TEXT NOT NULL PRIMARY KEY,
    password_hash TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);

-- Signed-in console sessions, shared by every worker and host. id_hash: SHA-256 (hex) of the
-- cookie's random value, so a copy of the database opens no session. credential: how the operator
-- signed in (password, admin-token).
CREATE TABLE console_sessions (
    id_hash TEXT NOT NULL PRIMARY KEY,
    operator TEXT NOT NULL,
    credential TEXT NOT NULL,
    client TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);

-- Failed console sign-ins, per client address (failure_key 'address:…') and per operator
-- ('operator:…'), in a window that starts at the first failure; locked_until set once the count
-- reaches the lockout bound.
CREATE TABLE console_sign_in_failures (
    failure_key TEXT NOT NULL PRIMARY KEY,
    failures INTEGER NOT NULL,
    window_start DOUBLE PRECISION NOT NULL,
    locked_until DOUBLE PRECISION
);

-- The console's overview aggregates decisions by result and time (the 24-hour chart, the refusal
-- reasons, the migration progress): one covering index serves the three, read without the table.
CREATE INDEX audit_events_by_result ON audit_events (result, at, credential, code, verified, org_id)
