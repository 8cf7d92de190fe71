-- The mailbox tables as PostgreSQL has them (migrations/postgres/0002_mailbox.sql), so that one
-- text of each mailbox query serves both backends:
--
-- * lower-case key columns beside the addresses (`smtp_key`, `sip_key`, `upn_key`, `sid_key`):
--   lookups bind the ASCII-lower-cased value and compare keys, ordering is by `smtp_key`. SQLite's
--   lower() folds ASCII only (no ICU), exactly like NOCASE and like PostgreSQL's generated keys.
--   They are VIRTUAL (computed on read, nothing rewritten), indexed (unique, like the NOCASE
--   constraints they mirror, which stay);
-- * the paging index on the paging order (COALESCE(received_at, created_at), created_at, id), so a
--   page of a large folder is read in index order instead of sorted.
--
-- Existing rows keep their values: the key columns are computed from them.

ALTER TABLE mailbox_users ADD COLUMN smtp_key TEXT GENERATED ALWAYS AS (lower(smtp)) VIRTUAL;
ALTER TABLE mailbox_users ADD COLUMN sip_key TEXT GENERATED ALWAYS AS (lower(sip)) VIRTUAL;
ALTER TABLE mailbox_users ADD COLUMN upn_key TEXT GENERATED ALWAYS AS (lower(upn)) VIRTUAL;
ALTER TABLE mailbox_users ADD COLUMN sid_key TEXT GENERATED ALWAYS AS (lower(sid)) VIRTUAL;

CREATE UNIQUE INDEX mailbox_users_by_smtp_key ON mailbox_users (smtp_key);
CREATE UNIQUE INDEX mailbox_users_by_sip_key ON mailbox_users (sip_key);
CREATE UNIQUE INDEX mailbox_users_by_upn_key ON mailbox_users (upn_key);
CREATE UNIQUE INDEX mailbox_users_by_sid_key ON mailbox_users (sid_key);  -- NULLs never clash

DROP INDEX mailbox_items_by_folder;
CREATE INDEX mailbox_items_by_folder ON mailbox_items (folder_id, COALESCE(received_at, created_at), created_at, id);

-- Folder deletes look children up by parent (as on PostgreSQL).
CREATE INDEX mailbox_folders_by_parent ON mailbox_folders (parent_id);

-- A user's roles (and the delete of a user) by user id (as on PostgreSQL).
CREATE INDEX role_assignments_by_user ON role_assignments (user_id);
