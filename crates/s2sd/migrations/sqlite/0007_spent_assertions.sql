-- Client assertions already accepted by the token endpoint of any node of this store, so that
-- each is accepted once across nodes and restarts. `key` is the SHA-256 (hex) of the tenant, the
-- client and the assertion's jti (or its hash when it has none); rows are kept until the assertion
-- could no longer be accepted anyway (its expiry plus the allowed skew), then purged.
CREATE TABLE spent_assertions (
    key         TEXT PRIMARY KEY,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX spent_assertions_by_expiry ON spent_assertions (expires_at);
