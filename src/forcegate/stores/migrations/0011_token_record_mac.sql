-- forcegate schema, version 11: the record MAC of an issued access token (decision 0025).

-- base64url HMAC-SHA256 over the whole token, keyed by a key derived from the signing key: the
-- service checks a token of its own by comparing it on the lookup it makes anyway (revocation),
-- instead of with public-key cryptography. NULL in records written before this version: those
-- tokens are checked by their signature, as before.
ALTER TABLE issued_tokens ADD COLUMN mac TEXT
