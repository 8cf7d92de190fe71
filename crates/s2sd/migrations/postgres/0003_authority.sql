-- s2sd authority store, PostgreSQL: the authorization-server role (like Azure ACS) — tenants, their
-- service principals with service principal names (SPNs) and credentials, and the pepper that
-- keys the hashes of client secrets. The SQLite schema's semantics (sqlite/0004_authority.sql).
-- This is configuration: every write locks and bumps config_version in the same transaction (and
-- announces it with pg_notify), so running nodes reload it at once or within a poll interval.
-- Times are unix seconds (BIGINT). Realms, app ids, SPNs and credential ids compare
-- case-insensitively in ASCII only, exactly like SQLite's NOCASE: each keeps a generated `*_key`
-- column (ASCII lower case, collation "C") that carries uniqueness, references and ordering.

-- Tenants (realms): each has its own metadata document and token endpoint.
CREATE TABLE authority_tenants (
    realm      TEXT NOT NULL,                               -- lower-case GUID
    realm_key  TEXT COLLATE "C" GENERATED ALWAYS AS
                   (translate(realm, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')) STORED
                   PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Service principals of a tenant (New-MsolServicePrincipal).
CREATE TABLE authority_service_principals (
    tenant       TEXT NOT NULL,
    tenant_key   TEXT COLLATE "C" GENERATED ALWAYS AS
                     (translate(tenant, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')) STORED
                     REFERENCES authority_tenants (realm_key) ON DELETE CASCADE,
    app_id       TEXT NOT NULL,                             -- lower-case GUID
    app_id_key   TEXT COLLATE "C" GENERATED ALWAYS AS
                     (translate(app_id, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')) STORED,
    display_name TEXT NOT NULL,
    enabled      BOOLEAN NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant_key, app_id_key)
);

-- Service principal names: `<appId>/<host>`, the host possibly `*.<domain>` (one label).
CREATE TABLE authority_spns (
    tenant     TEXT NOT NULL,
    tenant_key TEXT COLLATE "C" GENERATED ALWAYS AS
                   (translate(tenant, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')) STORED,
    app_id     TEXT NOT NULL,
    app_id_key TEXT COLLATE "C" GENERATED ALWAYS AS
                   (translate(app_id, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')) STORED,
    spn        TEXT NOT NULL,                               -- lower case
    spn_key    TEXT COLLATE "C" GENERATED ALWAYS AS
                   (translate(spn, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')) STORED,
    PRIMARY KEY (tenant_key, app_id_key, spn_key),
    FOREIGN KEY (tenant_key, app_id_key)
        REFERENCES authority_service_principals (tenant_key, app_id_key) ON DELETE CASCADE
);

-- Credentials (New-MsolServicePrincipalCredential): a client secret, stored only as
-- HMAC-SHA256(pepper, secret), or a certificate whose key verifies client assertions.
CREATE TABLE authority_credentials (
    id              TEXT NOT NULL,                          -- lower-case GUID
    id_key          TEXT COLLATE "C" GENERATED ALWAYS AS
                        (translate(id, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')) STORED
                        PRIMARY KEY,
    tenant          TEXT NOT NULL,
    tenant_key      TEXT COLLATE "C" GENERATED ALWAYS AS
                        (translate(tenant, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')) STORED,
    app_id          TEXT NOT NULL,
    app_id_key      TEXT COLLATE "C" GENERATED ALWAYS AS
                        (translate(app_id, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')) STORED,
    kind            TEXT NOT NULL CHECK (kind IN ('symmetric', 'asymmetric')),
    usage           TEXT NOT NULL CHECK (usage IN ('verify')),
    secret_hash     BYTEA,
    certificate_der BYTEA,
    thumbprint      TEXT,                                   -- upper-case hex SHA-1 of certificate_der
    start_at        BIGINT NOT NULL,
    end_at          BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    CHECK ((kind = 'symmetric' AND secret_hash IS NOT NULL AND certificate_der IS NULL)
        OR (kind = 'asymmetric' AND certificate_der IS NOT NULL AND secret_hash IS NULL)),
    FOREIGN KEY (tenant_key, app_id_key)
        REFERENCES authority_service_principals (tenant_key, app_id_key) ON DELETE CASCADE
);

CREATE INDEX authority_credentials_by_principal ON authority_credentials (tenant_key, app_id_key);

-- The key of the client-secret hashes: 32 random bytes, one row, created at first use.
CREATE TABLE authority_pepper (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    pepper BYTEA NOT NULL
);
