-- forcegate schema, version 7: subscriber enrollment (issue 14) and the approval list.

-- A subscriber admin's request to have the org trust a certificate. The one-time enrollment code is
-- kept as its SHA-256 only (like the admin token: a long random string, not a password). States:
-- pending_proof (waiting for an assertion signed with the certificate's key), approved (the ISV
-- approved before the proof), pending_approval (proven, waiting for the ISV), active (the
-- certificate is trusted), rejected, expired (the code lapsed, or a newer enrollment replaced it).
CREATE TABLE enrollments (
    enrollment_id TEXT NOT NULL PRIMARY KEY,
    org_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    username TEXT NOT NULL,
    certificate_der BLOB NOT NULL,
    sha256_fingerprint TEXT NOT NULL,
    state TEXT NOT NULL CHECK (
        state IN ('pending_proof', 'approved', 'pending_approval', 'active', 'rejected', 'expired')
    ),
    code_digest TEXT NOT NULL,
    code_expires_at DOUBLE PRECISION NOT NULL,
    proven_at DOUBLE PRECISION,
    decided_by TEXT,
    reason TEXT NOT NULL DEFAULT '',
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX enrollments_by_org ON enrollments (org_id, created_at);
CREATE INDEX enrollments_by_state ON enrollments (state, created_at);
-- At most one open enrollment per org and certificate: a new one replaces (expires) the open one.
CREATE UNIQUE INDEX enrollments_open ON enrollments (org_id, sha256_fingerprint)
    WHERE state IN ('pending_proof', 'approved', 'pending_approval');

-- Orgs the ISV pre-approved (`forcegate orgs import`, e.g. the License Management App's licenses).
-- An entry trusts nothing: it only lets the org's enrollment through under enrollment_policy=listed.
CREATE TABLE approved_orgs (
    org_id TEXT NOT NULL PRIMARY KEY,
    source TEXT NOT NULL DEFAULT '',
    created_at DOUBLE PRECISION NOT NULL
);

-- A subscriber admin's Salesforce sign-in at /enroll, between the redirect to Salesforce and the
-- certificate upload. id_hash: SHA-256 of the browser cookie's random value (the PKCE verifier is
-- derived from that value, so it is never stored); state_hash: SHA-256 of the OAuth state. The org,
-- user and username are set once, when the callback's code is exchanged (single use of the state).
CREATE TABLE enrollment_sign_ins (
    id_hash TEXT NOT NULL PRIMARY KEY,
    state_hash TEXT NOT NULL,
    login_url TEXT NOT NULL,
    org_id TEXT,
    user_id TEXT,
    username TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX enrollment_sign_ins_by_expiry ON enrollment_sign_ins (expires_at);
