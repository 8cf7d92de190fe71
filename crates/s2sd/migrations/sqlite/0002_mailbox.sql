-- s2sd mailbox store, SQLite: users, their folders and items, and management role assignments.
-- Mailbox data is data, not configuration: writes here never bump config_version.
-- Times are unix seconds (INTEGER); booleans are 0/1; addresses compare case-insensitively (NOCASE).

-- Mailbox users (New-Mailbox / New-MailUser).
CREATE TABLE mailbox_users (
    id           TEXT NOT NULL PRIMARY KEY,                 -- lower-case GUID
    smtp         TEXT NOT NULL COLLATE NOCASE UNIQUE,       -- primary SMTP address
    sip          TEXT NOT NULL COLLATE NOCASE UNIQUE,       -- SIP address without `sip:`
    upn          TEXT NOT NULL COLLATE NOCASE UNIQUE,       -- user principal name
    sid          TEXT COLLATE NOCASE UNIQUE,                -- Windows SID (s-1-5-21-…), optional
    display_name TEXT NOT NULL,
    created_at   INTEGER NOT NULL
) STRICT;

-- A user's folders; the well-known ones carry their EWS distinguished id.
CREATE TABLE mailbox_folders (
    id            TEXT NOT NULL PRIMARY KEY,                -- opaque EWS folder id (base64)
    user_id       TEXT NOT NULL REFERENCES mailbox_users (id) ON DELETE CASCADE,
    parent_id     TEXT REFERENCES mailbox_folders (id) ON DELETE CASCADE,
    distinguished TEXT,                                     -- e.g. 'inbox', 'conversationhistory'
    display_name  TEXT NOT NULL,
    folder_class  TEXT NOT NULL,                            -- e.g. 'IPF.Note', 'IPF.Contact'; '' for roots
    change_key    TEXT NOT NULL,
    position      INTEGER NOT NULL,                         -- order within the user's folder list
    UNIQUE (user_id, distinguished)
) STRICT;

CREATE INDEX mailbox_folders_by_user ON mailbox_folders (user_id, position);

-- Items: messages and contacts. Lists (recipients, addresses, phone numbers) are JSON arrays.
CREATE TABLE mailbox_items (
    id              TEXT NOT NULL PRIMARY KEY,              -- opaque EWS item id (base64)
    change_key      TEXT NOT NULL,
    user_id         TEXT NOT NULL REFERENCES mailbox_users (id) ON DELETE CASCADE,
    folder_id       TEXT NOT NULL REFERENCES mailbox_folders (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL CHECK (kind IN ('message', 'contact')),
    item_class      TEXT NOT NULL,                          -- e.g. 'IPM.Note', 'IPM.Contact'
    subject         TEXT,
    body            TEXT,
    body_type       TEXT NOT NULL CHECK (body_type IN ('Text', 'HTML')),
    sender          TEXT,                                   -- JSON {"name":…,"email":…} or NULL
    to_recipients   TEXT NOT NULL DEFAULT '[]',             -- JSON array of {"name","email"}
    cc_recipients   TEXT NOT NULL DEFAULT '[]',
    bcc_recipients  TEXT NOT NULL DEFAULT '[]',
    is_read         INTEGER NOT NULL CHECK (is_read IN (0, 1)),
    given_name      TEXT,
    surname         TEXT,
    display_name    TEXT,
    company_name    TEXT,
    job_title       TEXT,
    email_addresses TEXT NOT NULL DEFAULT '[]',             -- JSON array of {"key","value"}
    im_addresses    TEXT NOT NULL DEFAULT '[]',             -- JSON array of {"key","value"} (SIP addresses)
    phone_numbers   TEXT NOT NULL DEFAULT '[]',             -- JSON array of {"key","value"}
    created_at      INTEGER NOT NULL,
    modified_at     INTEGER NOT NULL,
    sent_at         INTEGER,
    received_at     INTEGER
) STRICT;

CREATE INDEX mailbox_items_by_folder ON mailbox_items (folder_id, received_at, created_at);
CREATE INDEX mailbox_items_by_user ON mailbox_items (user_id);

-- Management role assignments (New-ManagementRoleAssignment -Role … -User …).
CREATE TABLE role_assignments (
    role       TEXT NOT NULL CHECK (role IN ('UserApplication', 'ArchiveApplication')),
    user_id    TEXT NOT NULL REFERENCES mailbox_users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (role, user_id)
) STRICT;
