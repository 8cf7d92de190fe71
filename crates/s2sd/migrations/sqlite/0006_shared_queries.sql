-- One query text for both backends (src/store/sql/): the configuration and authority tables gain
-- what the PostgreSQL schema has, with the data kept.
--
-- Lookup keys: generated ASCII-lower-case `*_key` columns (SQLite's lower() folds ASCII only,
-- like PostgreSQL's translate() key columns, and like the NOCASE collation they replace for
-- lookups). Every lookup is `WHERE x_key = $1` with the ASCII-lower-cased value bound, every order
-- is by the keys (byte-wise, as PostgreSQL's COLLATE "C"). The unique indexes on the keys carry
-- the same uniqueness as the NOCASE primary keys.
--
-- Partners get an integer id (as on PostgreSQL) and their certificates hang off it, instead of
-- off the name: `partners` and `partner_certificates` are rebuilt (SQLite cannot add a primary
-- key), children first, so that dropping the old tables cascades nothing.

ALTER TABLE certificates ADD COLUMN thumbprint_key TEXT GENERATED ALWAYS AS (lower(thumbprint)) VIRTUAL;
CREATE UNIQUE INDEX certificates_by_thumbprint_key ON certificates (thumbprint_key);

CREATE TABLE partners_new (
    id                  INTEGER PRIMARY KEY,
    name                TEXT NOT NULL,
    name_key            TEXT GENERATED ALWAYS AS (lower(name)) VIRTUAL,
    application_id      TEXT NOT NULL,
    realm               TEXT NOT NULL,                          -- '*' = any realm
    metadata_url        TEXT,
    trust_level         TEXT NOT NULL,                          -- 'Full' | 'Application'
    enabled             INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    allow_http_metadata INTEGER NOT NULL CHECK (allow_http_metadata IN (0, 1)),
    tls_ca_pem          TEXT,
    metadata_fetched_at INTEGER,
    metadata_status     TEXT,                                   -- 'ok' or a one-line error
    metadata_refresh_interval INTEGER,                          -- seconds; NULL = the server's default
    linked_account      TEXT,                                   -- app-only rights: this mailbox user's role assignments
    accept_security_identifier_information INTEGER NOT NULL DEFAULT 0 CHECK (accept_security_identifier_information IN (0, 1)),
    kind                TEXT NOT NULL DEFAULT 'application' CHECK (kind IN ('application', 'auth-server')),
    use_auth_server     INTEGER NOT NULL DEFAULT 0 CHECK (use_auth_server IN (0, 1)),
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
) STRICT;

INSERT INTO partners_new (name, application_id, realm, metadata_url, trust_level, enabled, allow_http_metadata,
        tls_ca_pem, metadata_fetched_at, metadata_status, metadata_refresh_interval, linked_account,
        accept_security_identifier_information, kind, use_auth_server, created_at, updated_at)
    SELECT name, application_id, realm, metadata_url, trust_level, enabled, allow_http_metadata,
        tls_ca_pem, metadata_fetched_at, metadata_status, metadata_refresh_interval, linked_account,
        accept_security_identifier_information, kind, use_auth_server, created_at, updated_at
    FROM partners ORDER BY lower(name);

-- A partner's certificates (DER), in order: from its metadata or given by hand.
CREATE TABLE partner_certificates_new (
    partner_id INTEGER NOT NULL REFERENCES partners_new (id) ON DELETE CASCADE,
    position   INTEGER NOT NULL CHECK (position >= 0),
    der        BLOB NOT NULL,
    PRIMARY KEY (partner_id, position)
) STRICT;

INSERT INTO partner_certificates_new (partner_id, position, der)
    SELECT p.id, c.position, c.der
    FROM partner_certificates c JOIN partners_new p ON p.name_key = lower(c.partner_name);

DROP TABLE partner_certificates;
DROP TABLE partners;
-- Renaming also renames the reference of partner_certificates_new.
ALTER TABLE partners_new RENAME TO partners;
ALTER TABLE partner_certificates_new RENAME TO partner_certificates;
CREATE UNIQUE INDEX partners_by_name_key ON partners (name_key);

ALTER TABLE authority_tenants ADD COLUMN realm_key TEXT GENERATED ALWAYS AS (lower(realm)) VIRTUAL;
CREATE UNIQUE INDEX authority_tenants_by_realm_key ON authority_tenants (realm_key);

ALTER TABLE authority_service_principals ADD COLUMN tenant_key TEXT GENERATED ALWAYS AS (lower(tenant)) VIRTUAL;
ALTER TABLE authority_service_principals ADD COLUMN app_id_key TEXT GENERATED ALWAYS AS (lower(app_id)) VIRTUAL;
CREATE UNIQUE INDEX authority_service_principals_by_key ON authority_service_principals (tenant_key, app_id_key);

ALTER TABLE authority_spns ADD COLUMN tenant_key TEXT GENERATED ALWAYS AS (lower(tenant)) VIRTUAL;
ALTER TABLE authority_spns ADD COLUMN app_id_key TEXT GENERATED ALWAYS AS (lower(app_id)) VIRTUAL;
ALTER TABLE authority_spns ADD COLUMN spn_key TEXT GENERATED ALWAYS AS (lower(spn)) VIRTUAL;
CREATE UNIQUE INDEX authority_spns_by_key ON authority_spns (tenant_key, app_id_key, spn_key);

ALTER TABLE authority_credentials ADD COLUMN id_key TEXT GENERATED ALWAYS AS (lower(id)) VIRTUAL;
ALTER TABLE authority_credentials ADD COLUMN tenant_key TEXT GENERATED ALWAYS AS (lower(tenant)) VIRTUAL;
ALTER TABLE authority_credentials ADD COLUMN app_id_key TEXT GENERATED ALWAYS AS (lower(app_id)) VIRTUAL;
CREATE UNIQUE INDEX authority_credentials_by_id_key ON authority_credentials (id_key);
CREATE INDEX authority_credentials_by_principal_key ON authority_credentials (tenant_key, app_id_key, created_at);
