-- Sessions with rotating refresh tokens, and the one-time tokens of password recovery and
-- email verification. Tokens are stored only as hashes (hex SHA-256 HMAC): a token is
-- 256 random bits, so the hash alone never gives it back. A token is spent, used or its
-- session ended by one conditional UPDATE whose row count decides, so of two requests
-- with one token exactly one wins. Hashes are NVARCHAR like the parameters that look them
-- up, so the key is sought, never converted.
ALTER TABLE users ADD email_verified BIT NOT NULL
    CONSTRAINT df_users_email_verified DEFAULT 0
    CONSTRAINT ck_users_email_verified CHECK (email_verified IN (0, 1));

CREATE TABLE sessions (
    id           BINARY(16)    NOT NULL CONSTRAINT pk_sessions PRIMARY KEY,
    user_id      BINARY(16)    NOT NULL CONSTRAINT fk_sessions_user REFERENCES users (id),
    created_at   DATETIME2(6)  NOT NULL,
    last_used_at DATETIME2(6)  NOT NULL,
    expires_at   DATETIME2(6)  NOT NULL,
    user_agent   NVARCHAR(510) NULL,
    ended_at     DATETIME2(6)  NULL
);
CREATE INDEX ix_sessions_user ON sessions (user_id, created_at);
CREATE INDEX ix_sessions_expires ON sessions (expires_at);

CREATE TABLE refresh_tokens (
    token_hash NVARCHAR(64) COLLATE Latin1_General_100_BIN2 NOT NULL CONSTRAINT pk_refresh_tokens PRIMARY KEY,
    session_id BINARY(16)   NOT NULL CONSTRAINT fk_refresh_tokens_session REFERENCES sessions (id),
    expires_at DATETIME2(6) NOT NULL,
    spent_at   DATETIME2(6) NULL
);
CREATE INDEX ix_refresh_tokens_session ON refresh_tokens (session_id);

CREATE TABLE one_time_tokens (
    token_hash NVARCHAR(64) COLLATE Latin1_General_100_BIN2 NOT NULL CONSTRAINT pk_one_time_tokens PRIMARY KEY,
    user_id    BINARY(16)   NOT NULL CONSTRAINT fk_one_time_tokens_user REFERENCES users (id),
    purpose    NVARCHAR(16) NOT NULL CONSTRAINT ck_one_time_tokens_purpose CHECK (purpose IN (N'reset', N'verify')),
    expires_at DATETIME2(6) NOT NULL,
    used_at    DATETIME2(6) NULL
);
CREATE INDEX ix_one_time_tokens_user ON one_time_tokens (user_id, purpose);
CREATE INDEX ix_one_time_tokens_expires ON one_time_tokens (expires_at);
