-- One query text for both backends (src/store/sql/): our OAuth configuration's lists become JSON
-- text, exactly as SQLite stores them (a JSON array of strings), instead of TEXT[] arrays. The
-- data is kept: each array is converted to its JSON text.

ALTER TABLE oauth_config
    ALTER COLUMN hostnames DROP DEFAULT,
    ALTER COLUMN hostnames TYPE TEXT USING array_to_json(hostnames)::text,
    ALTER COLUMN hostnames SET DEFAULT '[]',
    ALTER COLUMN additional_realms DROP DEFAULT,
    ALTER COLUMN additional_realms TYPE TEXT USING array_to_json(additional_realms)::text,
    ALTER COLUMN additional_realms SET DEFAULT '[]';
