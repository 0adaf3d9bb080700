-- forcegate schema, version 3: the replay key of the assertion a token was granted for.
-- With replay claims in Redis, the token record in the database is a second, durable guard: if Redis
-- loses claims (a restart without persistence, a failover to a replica that lagged), the same
-- assertion still cannot be granted twice while its token record exists. NULL for other tokens.
ALTER TABLE issued_tokens ADD COLUMN grant_key TEXT;
CREATE UNIQUE INDEX issued_tokens_by_grant_key ON issued_tokens (grant_key);
