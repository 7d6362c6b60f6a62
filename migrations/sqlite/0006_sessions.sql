-- Sessions with rotating refresh tokens, and the one-time tokens of password recovery and
-- email verification. Tokens are stored only as hashes (hex SHA-256 HMAC): a token is
-- 256 random bits, so the hash alone never gives it back. A token is spent, used or its
-- session ended by one conditional UPDATE whose row count decides, so of two requests
-- with one token exactly one wins.
ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0
    CONSTRAINT ck_users_email_verified CHECK (email_verified IN (0, 1));

CREATE TABLE sessions (
    id           BLOB NOT NULL CONSTRAINT pk_sessions PRIMARY KEY,
    user_id      BLOB NOT NULL CONSTRAINT fk_sessions_user REFERENCES users (id),
    created_at   TEXT NOT NULL,
    last_used_at TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    user_agent   TEXT,
    ended_at     TEXT
) STRICT;
CREATE INDEX ix_sessions_user ON sessions (user_id, created_at);
CREATE INDEX ix_sessions_expires ON sessions (expires_at);

CREATE TABLE refresh_tokens (
    token_hash TEXT NOT NULL CONSTRAINT pk_refresh_tokens PRIMARY KEY,
    session_id BLOB NOT NULL CONSTRAINT fk_refresh_tokens_session REFERENCES sessions (id),
    expires_at TEXT NOT NULL,
    spent_at   TEXT
) STRICT;
CREATE INDEX ix_refresh_tokens_session ON refresh_tokens (session_id);

CREATE TABLE one_time_tokens (
    token_hash TEXT NOT NULL CONSTRAINT pk_one_time_tokens PRIMARY KEY,
    user_id    BLOB NOT NULL CONSTRAINT fk_one_time_tokens_user REFERENCES users (id),
    purpose    TEXT NOT NULL CONSTRAINT ck_one_time_tokens_purpose CHECK (purpose IN ('reset', 'verify')),
    expires_at TEXT NOT NULL,
    used_at    TEXT
) STRICT;
CREATE INDEX ix_one_time_tokens_user ON one_time_tokens (user_id, purpose);
CREATE INDEX ix_one_time_tokens_expires ON one_time_tokens (expires_at);
