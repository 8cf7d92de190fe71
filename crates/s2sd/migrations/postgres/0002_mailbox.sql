-- s2sd mailbox store, PostgreSQL: users, their folders and items, and management role assignments
-- (the SQLite schema's semantics). Mailbox data is data, not configuration: writes here never bump
-- config_version and never take the writers' lock. Times are unix seconds (BIGINT). Addresses
-- compare case-insensitively in ASCII only, exactly like SQLite's NOCASE: generated `*_key` columns
-- (ASCII lower case, collation "C") carry the uniqueness and the ordering. Ids are compared and
-- ordered byte-wise (collation "C"), like SQLite's BINARY.

-- Mailbox users (New-Mailbox / New-MailUser).
CREATE TABLE mailbox_users (
    id           TEXT COLLATE "C" NOT NULL PRIMARY KEY,    -- lower-case GUID
    smtp         TEXT NOT NULL,                             -- primary SMTP address
    smtp_key     TEXT COLLATE "C" GENERATED ALWAYS AS
                     (translate(smtp, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')) STORED
                     UNIQUE,
    sip          TEXT NOT NULL,                             -- SIP address without `sip:`
    sip_key      TEXT COLLATE "C" GENERATED ALWAYS AS
                     (translate(sip, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')) STORED
                     UNIQUE,
    upn          TEXT NOT NULL,                             -- user principal name
    upn_key      TEXT COLLATE "C" GENERATED ALWAYS AS
                     (translate(upn, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')) STORED
                     UNIQUE,
    sid          TEXT,                                      -- Windows SID (s-1-5-21-…), optional
    sid_key      TEXT COLLATE "C" GENERATED ALWAYS AS
                     (translate(sid, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')) STORED
                     UNIQUE,                                -- NULLs never clash
    display_name TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);

-- A user's folders; the well-known ones carry their EWS distinguished id.
CREATE TABLE mailbox_folders (
    id            TEXT COLLATE "C" NOT NULL PRIMARY KEY,   -- opaque EWS folder id (base64)
    user_id       TEXT COLLATE "C" NOT NULL REFERENCES mailbox_users (id) ON DELETE CASCADE,
    parent_id     TEXT COLLATE "C" REFERENCES mailbox_folders (id) ON DELETE CASCADE,
    distinguished TEXT COLLATE "C",                         -- e.g. 'inbox', 'conversationhistory'
    display_name  TEXT NOT NULL,
    folder_class  TEXT NOT NULL,                            -- e.g. 'IPF.Note', 'IPF.Contact'; '' for roots
    change_key    TEXT NOT NULL,
    position      BIGINT NOT NULL,                          -- order within the user's folder list
    UNIQUE (user_id, distinguished)
);

CREATE INDEX mailbox_folders_by_user ON mailbox_folders (user_id, position);
CREATE INDEX mailbox_folders_by_parent ON mailbox_folders (parent_id);

-- Items: messages and contacts. Lists (recipients, addresses, phone numbers) are JSON arrays.
CREATE TABLE mailbox_items (
    id              TEXT COLLATE "C" NOT NULL PRIMARY KEY, -- opaque EWS item id (base64)
    change_key      TEXT NOT NULL,
    user_id         TEXT COLLATE "C" NOT NULL REFERENCES mailbox_users (id) ON DELETE CASCADE,
    folder_id       TEXT COLLATE "C" NOT NULL REFERENCES mailbox_folders (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL CHECK (kind IN ('message', 'contact')),
    item_class      TEXT NOT NULL,                          -- e.g. 'IPM.Note', 'IPM.Contact'
    subject         TEXT,
    body            TEXT,
    body_type       TEXT NOT NULL CHECK (body_type IN ('Text', 'HTML')),
    sender          JSONB CHECK (jsonb_typeof(sender) = 'object'),  -- {"name":…,"email":…} or NULL
    to_recipients   JSONB NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(to_recipients) = 'array'),  -- [{"name","email"}]
    cc_recipients   JSONB NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(cc_recipients) = 'array'),
    bcc_recipients  JSONB NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(bcc_recipients) = 'array'),
    is_read         BOOLEAN NOT NULL,
    given_name      TEXT,
    surname         TEXT,
    display_name    TEXT,
    company_name    TEXT,
    job_title       TEXT,
    email_addresses JSONB NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(email_addresses) = 'array'),  -- [{"key","value"}]
    im_addresses    JSONB NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(im_addresses) = 'array'),  -- SIP addresses
    phone_numbers   JSONB NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(phone_numbers) = 'array'),
    created_at      BIGINT NOT NULL,
    modified_at     BIGINT NOT NULL,
    sent_at         BIGINT,
    received_at     BIGINT
);

-- A folder's page, newest (or oldest) received first: the order of the paging query.
CREATE INDEX mailbox_items_by_folder ON mailbox_items (folder_id, COALESCE(received_at, created_at), created_at, id);
CREATE INDEX mailbox_items_by_user ON mailbox_items (user_id);

-- Management role assignments (New-ManagementRoleAssignment -Role … -User …).
CREATE TABLE role_assignments (
    role       TEXT COLLATE "C" NOT NULL CHECK (role IN ('UserApplication', 'ArchiveApplication')),
    user_id    TEXT COLLATE "C" NOT NULL REFERENCES mailbox_users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (role, user_id)
);

CREATE INDEX role_assignments_by_user ON role_assignments (user_id);
