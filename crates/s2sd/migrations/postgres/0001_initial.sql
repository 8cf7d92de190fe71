-- s2sd configuration store, PostgreSQL: the initial schema (the SQLite schema's semantics).
-- Times are unix seconds (BIGINT). Names and thumbprints compare case-insensitively in ASCII only,
-- exactly like SQLite's NOCASE: each table keeps a generated `*_key` column (ASCII lower case,
-- collation "C") that carries the uniqueness and the ordering. Tables live in the connection's
-- current schema (the first entry of search_path), so one database can hold several stores.

-- Bumped by every write, in the write's own transaction; writers lock this row first (SELECT … FOR
-- UPDATE), which serialises them, and announce the new version with pg_notify('s2s_config', …).
CREATE TABLE config_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);

INSERT INTO config_version (id, version) VALUES (1, 0);

-- The store key's identity and check value: an AES-256-GCM sealing of a known text under the key
-- that seals every private key below. A node with another key refuses to open the store.
CREATE TABLE store_key (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    key_id      TEXT NOT NULL,
    check_value BYTEA NOT NULL
);

-- Our own OAuth identity: one row.
CREATE TABLE oauth_config (
    id                        INTEGER PRIMARY KEY CHECK (id = 1),
    realm                     TEXT NOT NULL,
    service_name              TEXT NOT NULL,
    hostnames                 TEXT[] NOT NULL DEFAULT '{}',
    additional_realms         TEXT[] NOT NULL DEFAULT '{}',
    exchange_autodiscover_url TEXT,
    auto_renew_before_days    BIGINT,                       -- both set: certificate auto-renewal is on
    auto_renew_lead_days      BIGINT
);

-- Our issuer certificates: at most one per role.
CREATE TABLE certificates (
    thumbprint         TEXT NOT NULL,                       -- upper-case hex SHA-1 of cert_der
    thumbprint_key     TEXT COLLATE "C" GENERATED ALWAYS AS
                           (translate(thumbprint, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')) STORED
                           PRIMARY KEY,
    role               TEXT NOT NULL UNIQUE CHECK (role IN ('current', 'next', 'previous')),
    cert_der           BYTEA NOT NULL,
    private_key_sealed BYTEA,                               -- PKCS#8, AES-256-GCM under the store key
    not_before         BIGINT NOT NULL,
    not_after          BIGINT NOT NULL,
    effective_at       BIGINT,
    created_at         BIGINT NOT NULL
);

-- Partner applications we accept tokens from.
CREATE TABLE partners (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                TEXT NOT NULL,
    name_key            TEXT COLLATE "C" GENERATED ALWAYS AS
                            (translate(name, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')) STORED
                            UNIQUE,
    application_id      TEXT NOT NULL,
    realm               TEXT NOT NULL,                      -- '*' = any realm
    metadata_url        TEXT,
    trust_level         TEXT NOT NULL,                      -- 'Full' | 'Application'
    enabled             BOOLEAN NOT NULL,
    allow_http_metadata BOOLEAN NOT NULL,
    tls_ca_pem          TEXT,
    metadata_fetched_at BIGINT,
    metadata_status     TEXT,                               -- 'ok' or a one-line error
    metadata_refresh_interval BIGINT,                       -- seconds; NULL = the server's default
    linked_account      TEXT,                               -- app-only rights: this mailbox user's role assignments
    accept_security_identifier_information BOOLEAN NOT NULL DEFAULT FALSE,
    kind                TEXT NOT NULL DEFAULT 'application' CHECK (kind IN ('application', 'auth-server')),
    use_auth_server     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);

-- A partner's certificates (DER), in order: from its metadata or given by hand.
CREATE TABLE partner_certificates (
    partner_id BIGINT NOT NULL REFERENCES partners (id) ON DELETE CASCADE,
    position   INTEGER NOT NULL CHECK (position >= 0),
    der        BYTEA NOT NULL,
    PRIMARY KEY (partner_id, position)
);
