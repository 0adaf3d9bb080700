-- forcegate schema, version 8: certificate rotation from the org (issue 14).

-- A certificate replaced by a rotation stays trusted until retire_at (epoch seconds): the overlap
-- in which the org's running transactions may still sign with it. NULL: no retirement scheduled.
ALTER TABLE certificates ADD COLUMN retire_at DOUBLE PRECISION;
CREATE INDEX certificates_retiring ON certificates (retire_at) WHERE retire_at IS NOT NULL;

-- A rotation is an enrollment chained on a trusted certificate: replaces_fingerprint names the
-- certificate whose key signed the request (NULL for an enrollment by sign-in).
ALTER TABLE enrollments ADD COLUMN replaces_fingerprint TEXT;

-- SHA-256 of the certificate's SubjectPublicKeyInfo (hex): two certificates of one key are one
-- signer, so "never shared with another org" is checked by key as well as by certificate. Rows
-- stored before this version are filled in when the store opens (forcegate.stores.key_digests).
ALTER TABLE certificates ADD COLUMN key_sha256 TEXT;
CREATE INDEX certificates_by_key ON certificates (key_sha256);
-- The rows of a certificate (or key) not yet flagged shared: found without visiting every holder
-- when one more org registers a certificate shared on purpose by many.
CREATE INDEX certificates_unshared_by_fingerprint ON certificates (sha256_fingerprint) WHERE shared = 0;
CREATE INDEX certificates_unshared_by_key ON certificates (key_sha256) WHERE shared = 0
