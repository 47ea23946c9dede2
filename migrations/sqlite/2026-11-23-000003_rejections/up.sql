-- A bounded log of refused ingest attempts, for operators asking "why are my webhooks
-- failing?". Never the body, never a secret: only what was visible about the attempt.
-- Kept small by the writer (row cap, write-rate cap, pruned oldest first).
CREATE TABLE rejections (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    rejected_at     TIMESTAMP NOT NULL,
    reason          TEXT NOT NULL,
    http_status     INTEGER NOT NULL,
    source          TEXT NOT NULL,
    remote_addr     TEXT,
    user_agent      TEXT,
    content_length  BIGINT,
    body_bytes      BIGINT,
    headers_present TEXT NOT NULL
);
