-- s2sd authority store, SQLite: the authorization-server role (like Azure ACS) — tenants, their
-- service principals with service principal names (SPNs) and credentials, and the pepper that
-- keys the hashes of client secrets. This is configuration: every write bumps config_version in
-- the same transaction, so running nodes reload it within a poll interval.
-- Times are unix seconds (INTEGER); booleans are 0/1; ids and names compare case-insensitively.

-- Tenants (realms): each has its own metadata document and token endpoint.
CREATE TABLE authority_tenants (
    realm      TEXT NOT NULL COLLATE NOCASE PRIMARY KEY, -- lower-case GUID
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

-- Service principals of a tenant (New-MsolServicePrincipal).
CREATE TABLE authority_service_principals (
    tenant       TEXT NOT NULL COLLATE NOCASE REFERENCES authority_tenants (realm) ON DELETE CASCADE,
    app_id       TEXT NOT NULL COLLATE NOCASE,           -- lower-case GUID
    display_name TEXT NOT NULL,
    enabled      INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant, app_id)
) STRICT;

-- Service principal names: `<appId>/<host>`, the host possibly `*.<domain>` (one label).
CREATE TABLE authority_spns (
    tenant TEXT NOT NULL COLLATE NOCASE,
    app_id TEXT NOT NULL COLLATE NOCASE,
    spn    TEXT NOT NULL COLLATE NOCASE,                 -- lower case
    PRIMARY KEY (tenant, app_id, spn),
    FOREIGN KEY (tenant, app_id) REFERENCES authority_service_principals (tenant, app_id) ON DELETE CASCADE
) STRICT;

-- Credentials (New-MsolServicePrincipalCredential): a client secret, stored only as
-- HMAC-SHA256(pepper, secret), or a certificate whose key verifies client assertions.
CREATE TABLE authority_credentials (
    id              TEXT NOT NULL COLLATE NOCASE PRIMARY KEY, -- lower-case GUID
    tenant          TEXT NOT NULL COLLATE NOCASE,
    app_id          TEXT NOT NULL COLLATE NOCASE,
    kind            TEXT NOT NULL CHECK (kind IN ('symmetric', 'asymmetric')),
    usage           TEXT NOT NULL CHECK (usage IN ('verify')),
    secret_hash     BLOB,
    certificate_der BLOB,
    thumbprint      TEXT,                                     -- upper-case hex SHA-1 of certificate_der
    start_at        INTEGER NOT NULL,
    end_at          INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    CHECK ((kind = 'symmetric' AND secret_hash IS NOT NULL AND certificate_der IS NULL)
        OR (kind = 'asymmetric' AND certificate_der IS NOT NULL AND secret_hash IS NULL)),
    FOREIGN KEY (tenant, app_id) REFERENCES authority_service_principals (tenant, app_id) ON DELETE CASCADE
) STRICT;

CREATE INDEX authority_credentials_by_principal ON authority_credentials (tenant, app_id);

-- The key of the client-secret hashes: 32 random bytes, one row, created at first use.
CREATE TABLE authority_pepper (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    pepper BLOB NOT NULL
) STRICT;
