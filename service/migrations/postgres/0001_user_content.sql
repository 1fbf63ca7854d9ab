-- Content items: the payload lives in the object store at asset_url; the row points at it.
CREATE TABLE IF NOT EXISTS user_content (
    id               BIGSERIAL   PRIMARY KEY,
    user_id          TEXT        NOT NULL,
    content_metadata JSONB,
    asset_url        TEXT        NOT NULL,
    status           TEXT        NOT NULL DEFAULT 'processing',
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS user_content_user_id ON user_content (user_id);
CREATE INDEX IF NOT EXISTS user_content_created_at ON user_content (created_at);

-- The durable job table (outbox): one row per write, committed with the content row.
CREATE TABLE IF NOT EXISTS jobs (
    id           BIGSERIAL   PRIMARY KEY,
    content_id   BIGINT      NOT NULL,
    attempts     INTEGER     NOT NULL DEFAULT 0,
    run_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    locked_until TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS jobs_run_at ON jobs (run_at);
