-- Accounts, sessions, API tokens and per-user "viewed" marks (issue 3).
CREATE TABLE users (
    id                  BIGSERIAL PRIMARY KEY,
    username            TEXT NOT NULL,
    password_hash       TEXT NOT NULL,
    is_admin            BOOLEAN NOT NULL DEFAULT FALSE,
    is_disabled         BOOLEAN NOT NULL DEFAULT FALSE,
    created_at          TIMESTAMP NOT NULL,
    last_login_at       TIMESTAMP,
    password_changed_at TIMESTAMP NOT NULL,
    CONSTRAINT users_username_key UNIQUE (username)
);

-- Only the SHA-256 of a session token is stored; the token itself lives in the cookie.
CREATE TABLE sessions (
    id           BIGSERIAL PRIMARY KEY,
    token_hash   TEXT NOT NULL,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL,
    CONSTRAINT sessions_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX sessions_user_id ON sessions (user_id);

CREATE TABLE api_tokens (
    id           BIGSERIAL PRIMARY KEY,
    token_hash   TEXT NOT NULL,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    revoked_at   TIMESTAMP,
    CONSTRAINT api_tokens_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX api_tokens_user_id ON api_tokens (user_id);
CREATE INDEX api_tokens_name ON api_tokens (name);

-- One row per (user, callback) the user has opened. The primary key makes marking
-- idempotent (ON CONFLICT DO NOTHING) and serves the per-callback anti-join of the polls.
CREATE TABLE callback_views (
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    callback_id BIGINT NOT NULL REFERENCES callbacks (id) ON DELETE CASCADE,
    viewed_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, callback_id)
);
CREATE INDEX callback_views_callback_id ON callback_views (callback_id);
-- History filtered by source walks this index from the cursor.
CREATE INDEX callbacks_source_id ON callbacks (source, id);
