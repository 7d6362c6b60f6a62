-- Sessions with rotating refresh tokens, and the one-time tokens of password recovery and
-- email verification. Tokens are stored only as hashes (hex SHA-256 HMAC): a token is
-- 256 random bits, so the hash alone never gives it back. A token is spent, used or its
-- session ended by one conditional UPDATE whose row count decides, so of two requests
-- with one token exactly one wins.
ALTER TABLE users ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT FALSE
    CONSTRAINT ck_users_email_verified CHECK (email_verified IN (TRUE, FALSE));

CREATE TABLE sessions (
    id           UUID        NOT NULL CONSTRAINT pk_sessions PRIMARY KEY,
    user_id      UUID        NOT NULL CONSTRAINT fk_sessions_user REFERENCES users (id),
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    user_agent   TEXT,
    ended_at     TIMESTAMPTZ
);
CREATE INDEX ix_sessions_user ON sessions (user_id, created_at);
CREATE INDEX ix_sessions_expires ON sessions (expires_at);

CREATE TABLE refresh_tokens (
    token_hash TEXT        NOT NULL CONSTRAINT pk_refresh_tokens PRIMARY KEY,
    session_id UUID        NOT NULL CONSTRAINT fk_refresh_tokens_session REFERENCES sessions (id),
    expires_at TIMESTAMPTZ NOT NULL,
    spent_at   TIMESTAMPTZ
);
CREATE INDEX ix_refresh_tokens_session ON refresh_tokens (session_id);

CREATE TABLE one_time_tokens (
    token_hash TEXT        NOT NULL CONSTRAINT pk_one_time_tokens PRIMARY KEY,
    user_id    UUID        NOT NULL CONSTRAINT fk_one_time_tokens_user REFERENCES users (id),
    purpose    TEXT        NOT NULL CONSTRAINT ck_one_time_tokens_purpose CHECK (purpose IN ('reset', 'verify')),
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX ix_one_time_tokens_user ON one_time_tokens (user_id, purpose);
CREATE INDEX ix_one_time_tokens_expires ON one_time_tokens (expires_at);
