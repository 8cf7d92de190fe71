-- Private keys are encrypted at rest (AES-256-GCM under the store key, see src/store/crypto.rs).
-- The column is renamed to say so. Stores made before this migration hold plain PKCS#8 there: the
-- first open after it seals them and writes the check value below, in one transaction.
ALTER TABLE certificates RENAME COLUMN private_key_pkcs8 TO private_key_sealed;

-- The store key's identity and check value: an AES-256-GCM sealing of a known text under the key
-- that seals every private key. A node with another key refuses to open the store.
CREATE TABLE store_key (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    key_id      TEXT NOT NULL,
    check_value BLOB NOT NULL
) STRICT;
