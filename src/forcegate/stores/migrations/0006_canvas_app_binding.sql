-- forcegate schema, version 6: the orgs each Canvas app may open sessions for; what a session was
-- opened with; refusals whose claimed org was never verified.

-- A Canvas signed request opens a session only for an org bound to the app whose secret signed it
-- (or for any org when the app is any_org, the weaker legacy model). Removing either side removes
-- the binding.
CREATE TABLE org_apps (
    org_id TEXT NOT NULL REFERENCES orgs (org_id) ON DELETE CASCADE,
    consumer_key TEXT NOT NULL REFERENCES apps (consumer_key) ON DELETE CASCADE,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (org_id, consumer_key)
);
CREATE INDEX org_apps_by_app ON org_apps (consumer_key, org_id);

-- Upgrading must not cut a working deployment off: every app stays bound to every org registered
-- now, exactly what it could reach before. `forcegate db upgrade` lists the apps this binds to more
-- than one org, so each can be narrowed to its own.
INSERT INTO org_apps (org_id, consumer_key, created_at)
    SELECT orgs.org_id, apps.consumer_key, apps.created_at FROM orgs CROSS JOIN apps;

-- The consumer secret (its id) that signed the request a session was opened with: retiring that
-- secret ends the session. NULL for sessions opened before this version.
ALTER TABLE sessions ADD COLUMN app_secret_id BIGINT;

-- 0: a refusal filed under the org the credential claimed, before anything was verified.
ALTER TABLE audit_events ADD COLUMN verified INTEGER NOT NULL DEFAULT 1 CHECK (verified IN (0, 1));

-- The Canvas app's developer name (namespace-qualified, `ns__Name`, in a managed package): the
-- envelope names it in context.application, so a request to the shared /canvas endpoint is checked
-- against that app's secrets only, not against every registered secret. NULL: not known.
ALTER TABLE apps ADD COLUMN canvas_name TEXT;
