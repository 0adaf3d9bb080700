-- forcegate schema, version 5: per-org JWS algorithms, and certificates trusted for several orgs on purpose.
-- algorithms: a JSON array of JWS algorithm names; every org registered before this version keeps
-- RS256, the only algorithm it could use until now.
ALTER TABLE orgs ADD COLUMN algorithms TEXT NOT NULL DEFAULT '["RS256"]';

-- shared: 1 when the same certificate (fingerprint) is trusted for more than one org, which the
-- registry allows only when asked to (any org holding the key can sign as the others).
ALTER TABLE certificates ADD COLUMN shared INTEGER NOT NULL DEFAULT 0 CHECK (shared IN (0, 1));

-- The registry looks a fingerprint up across orgs when a certificate is added.
CREATE INDEX certificates_by_fingerprint ON certificates (sha256_fingerprint, org_id);

-- Certificates already trusted for several orgs were registered before the rule: keep them working,
-- and flag them as shared so they show up as such.
UPDATE certificates SET shared = 1 WHERE sha256_fingerprint IN (
    SELECT sha256_fingerprint FROM certificates GROUP BY sha256_fingerprint HAVING COUNT(DISTINCT org_id) > 1
);
