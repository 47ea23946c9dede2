-- One row per accepted callback. `id` doubles as the public, gap-free cursor: the writer takes
-- an advisory transaction lock before inserting, so ids become visible in the order they were
-- assigned (see src/store/writer.rs).
CREATE TABLE callbacks (
    id                BIGSERIAL PRIMARY KEY,
    source            TEXT NOT NULL,
    delivery_key      TEXT NOT NULL,
    callback_id       TEXT NOT NULL,
    event             TEXT NOT NULL,
    workflow_name     TEXT,
    status            TEXT,
    error_message     TEXT,
    sent_at           TIMESTAMP,
    body              BYTEA NOT NULL,
    body_sha256       TEXT NOT NULL,
    preview           TEXT NOT NULL,
    payload_size      INTEGER NOT NULL,
    signature_verdict TEXT NOT NULL,
    signature_scheme  TEXT NOT NULL,
    signature_header  TEXT NOT NULL,
    secret_label      TEXT NOT NULL,
    verified_at       TIMESTAMP NOT NULL,
    received_at       TIMESTAMP NOT NULL,
    remote_addr       TEXT,
    user_agent        TEXT,
    content_type      TEXT,
    CONSTRAINT callbacks_source_delivery_key_key UNIQUE (source, delivery_key)
);

CREATE INDEX callbacks_status_id ON callbacks (status, id);
CREATE INDEX callbacks_workflow_name_id ON callbacks (workflow_name, id);
CREATE INDEX callbacks_event_id ON callbacks (event, id);
CREATE INDEX callbacks_callback_id_id ON callbacks (callback_id, id);
CREATE INDEX callbacks_received_at ON callbacks (received_at);
