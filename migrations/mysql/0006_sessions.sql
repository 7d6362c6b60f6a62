-- Sessions with rotating refresh tokens, and the one-time tokens of password recovery and
-- email verification. Tokens are stored only as hashes (hex SHA-256 HMAC): a token is
-- 256 random bits, so the hash alone never gives it back. A token is spent, used or its
-- session ended by one conditional UPDATE whose row count decides, so of two requests
-- with one token exactly one wins.
ALTER TABLE users ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    ADD CONSTRAINT ck_users_email_verified CHECK (email_verified IN (0, 1));

CREATE TABLE sessions (
    id           BINARY(16)   NOT NULL,
    user_id      BINARY(16)   NOT NULL,
    created_at   DATETIME(6)  NOT NULL,
    last_used_at DATETIME(6)  NOT NULL,
    expires_at   DATETIME(6)  NOT NULL,
    user_agent   VARCHAR(255) CHARACTER SET utf8mb4 NULL,
    ended_at     DATETIME(6)  NULL,
    CONSTRAINT pk_sessions PRIMARY KEY (id),
    CONSTRAINT fk_sessions_user FOREIGN KEY (user_id) REFERENCES users (id),
    INDEX ix_sessions_user (user_id, created_at),
    INDEX ix_sessions_expires (expires_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE refresh_tokens (
    token_hash VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    session_id BINARY(16)  NOT NULL,
    expires_at DATETIME(6) NOT NULL,
    spent_at   DATETIME(6) NULL,
    CONSTRAINT pk_refresh_tokens PRIMARY KEY (token_hash),
    CONSTRAINT fk_refresh_tokens_session FOREIGN KEY (session_id) REFERENCES sessions (id),
    INDEX ix_refresh_tokens_session (session_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE one_time_tokens (
    token_hash VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    user_id    BINARY(16)  NOT NULL,
    purpose    VARCHAR(16) CHARACTER SET ascii NOT NULL,
    expires_at DATETIME(6) NOT NULL,
    used_at    DATETIME(6) NULL,
    CONSTRAINT pk_one_time_tokens PRIMARY KEY (token_hash),
    CONSTRAINT fk_one_time_tokens_user FOREIGN KEY (user_id) REFERENCES users (id),
    CONSTRAINT ck_one_time_tokens_purpose CHECK (purpose IN ('reset', 'verify')),
    INDEX ix_one_time_tokens_user (user_id, purpose),
    INDEX ix_one_time_tokens_expires (expires_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
