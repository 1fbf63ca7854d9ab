-- Content items: the payload lives in the object store at asset_url; the row points at it.
-- Timestamps are Unix milliseconds (SQLite has no timestamp type that sorts reliably as text).
CREATE TABLE user_content (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id          TEXT    NOT NULL,
    content_metadata TEXT,
    asset_url        TEXT    NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'processing',
    created_at       INTEGER NOT NULL
);
CREATE INDEX user_content_user_id ON user_content (user_id);
CREATE INDEX user_content_created_at ON user_content (created_at);

-- The durable job table (outbox): one row per write, committed with the content row.
CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    content_id   INTEGER NOT NULL REFERENCES user_content (id),
    attempts     INTEGER NOT NULL DEFAULT 0,
    run_at       INTEGER NOT NULL,
    locked_until INTEGER,
    created_at   INTEGER NOT NULL
);
CREATE INDEX jobs_run_at ON jobs (run_at);
