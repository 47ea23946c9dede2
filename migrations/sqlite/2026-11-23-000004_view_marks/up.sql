-- "Mark all read" as a per-user watermark: every callback with an id up to `up_to` counts as
-- viewed by the user. One row per advance, so marking a million callbacks read writes one row
-- instead of a million, the unread count only walks callbacks above the highest mark, and each
-- callback still reports when it was first marked (the earliest mark covering it).
CREATE TABLE view_marks (
    user_id   BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    up_to     BIGINT NOT NULL,
    viewed_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, up_to)
);
