-- s2sd configuration store, SQLite: the initial schema.
-- Times are unix seconds (INTEGER); booleans are 0/1; names compare case-insensitively (NOCASE).

-- Bumped by every write, in the write's own transaction; servers poll it to notice changes.
CREATE TABLE config_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
) STRICT;

INSERT INTO config_version (id, version) VALUES (1, 0);

-- Our own OAuth identity: one row.
CREATE TABLE oauth_config (
    id                        INTEGER PRIMARY KEY CHECK (id = 1),
    realm                     TEXT NOT NULL,
    service_name              TEXT NOT NULL,
    hostnames                 TEXT NOT NULL DEFAULT '[]', -- JSON array of strings
    additional_realms         TEXT NOT NULL DEFAULT '[]', -- JSON array of strings
    exchange_autodiscover_url TEXT,
    auto_renew_before_days    INTEGER,                      -- both set: certificate auto-renewal is on
    auto_renew_lead_days      INTEGER
) STRICT;

-- Our issuer certificates: at most one per role.
CREATE TABLE certificates (
    thumbprint        TEXT NOT NULL COLLATE NOCASE PRIMARY KEY, -- upper-case hex SHA-1 of cert_der
    role              TEXT NOT NULL CHECK (role IN ('current', 'next', 'previous')),
    cert_der          BLOB NOT NULL,
    private_key_pkcs8 BLOB,
    not_before        INTEGER NOT NULL,
    not_after         INTEGER NOT NULL,
    effective_at      INTEGER,
    created_at        INTEGER NOT NULL
) STRICT;

CREATE UNIQUE INDEX certificates_one_per_role ON certificates (role);

-- Partner applications we accept tokens from.
CREATE TABLE partners (
    name                TEXT NOT NULL COLLATE NOCASE PRIMARY KEY,
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

-- A partner's certificates (DER), in order: from its metadata or given by hand.
CREATE TABLE partner_certificates (
    partner_name TEXT NOT NULL COLLATE NOCASE
                 REFERENCES partners (name) ON DELETE CASCADE ON UPDATE CASCADE,
    position     INTEGER NOT NULL CHECK (position >= 0),
    der          BLOB NOT NULL,
    PRIMARY KEY (partner_name, position)
) STRICT;
