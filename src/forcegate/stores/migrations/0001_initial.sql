-- forcegate schema, version 1: trust registry, single-use claims, tokens, sessions, audit, service keys.
-- Portable SQL (see migrations/__init__.py): epoch seconds as DOUBLE PRECISION, flags as 0/1 INTEGER.

-- Bumped by every trust-registry write in the same transaction; read on every request.
CREATE TABLE trust_generation (
    singleton INTEGER NOT NULL CHECK (singleton = 1),
    generation BIGINT NOT NULL,
    PRIMARY KEY (singleton)
);
INSERT INTO trust_generation (singleton, generation) VALUES (1, 0);

-- Facts about the store itself (e.g. a value sealed with the encryption key, to detect a wrong key at start).
CREATE TABLE store_meta (
    name TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE apps (
    consumer_key TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    any_org INTEGER NOT NULL DEFAULT 0 CHECK (any_org IN (0, 1)),
    created_at DOUBLE PRECISION NOT NULL
);

-- secret_enc: SecretBox token bound to (consumer_key, id); the plaintext is never stored.
CREATE TABLE app_secrets (
    id INTEGER PRIMARY KEY,
    consumer_key TEXT NOT NULL REFERENCES apps (consumer_key) ON DELETE CASCADE,
    secret_enc TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1))
);
CREATE INDEX app_secrets_by_app ON app_secrets (consumer_key, active, id);

-- issuers, scopes: JSON arrays of strings; subjects: a JSON array, or NULL for "any subject".
CREATE TABLE orgs (
    org_id TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    issuers TEXT NOT NULL DEFAULT '[]',
    subjects TEXT,
    scopes TEXT NOT NULL DEFAULT '[]',
    max_assertion_lifetime INTEGER,
    token_lifetime INTEGER,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);

-- sha256_fingerprint: lowercase hex of the DER, no colons.
CREATE TABLE certificates (
    id INTEGER PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs (org_id) ON DELETE CASCADE,
    label TEXT NOT NULL DEFAULT '',
    der BLOB NOT NULL,
    sha256_fingerprint TEXT NOT NULL,
    x5t_s256 TEXT NOT NULL,
    subject TEXT NOT NULL,
    not_before DOUBLE PRECISION NOT NULL,
    not_after DOUBLE PRECISION NOT NULL,
    state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'retired')),
    created_at DOUBLE PRECISION NOT NULL,
    UNIQUE (org_id, sha256_fingerprint)
);

CREATE TABLE replay (
    claim_key TEXT NOT NULL PRIMARY KEY,
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX replay_by_expiry ON replay (expires_at);

CREATE TABLE issued_tokens (
    jti TEXT NOT NULL PRIMARY KEY,
    org_id TEXT NOT NULL,
    user_id TEXT,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    issued_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX issued_tokens_by_expiry ON issued_tokens (expires_at);

CREATE TABLE revoked_tokens (
    jti TEXT NOT NULL PRIMARY KEY,
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX revoked_tokens_by_expiry ON revoked_tokens (expires_at);

-- id_hash: SHA-256 hex of the cookie's random id; identity: Identity.to_dict() as JSON.
CREATE TABLE sessions (
    id_hash TEXT NOT NULL PRIMARY KEY,
    identity TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY,
    at DOUBLE PRECISION NOT NULL,
    endpoint TEXT NOT NULL,
    credential TEXT NOT NULL,
    result TEXT NOT NULL CHECK (result IN ('allowed', 'denied')),
    code TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    org_id TEXT,
    user_id TEXT,
    subject TEXT,
    issuer TEXT,
    client TEXT
);
CREATE INDEX audit_events_by_org ON audit_events (org_id, id);

-- private_pem_enc: SecretBox token bound to the kid.
CREATE TABLE signing_keys (
    kid TEXT NOT NULL PRIMARY KEY,
    algorithm TEXT NOT NULL,
    private_pem_enc TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1))
);

-- Only the SHA-256 (hex) of the admin token: a copy of the database does not grant admin access.
CREATE TABLE admin_token (
    singleton INTEGER NOT NULL CHECK (singleton = 1),
    token_sha256 TEXT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (singleton)
);
