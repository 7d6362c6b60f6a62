-- Idempotency keys (API.md v1.1). A key is claimed by one INSERT (the primary key decides
-- which of concurrent requests runs) and answered by the change it answers, in the same
-- transaction: status, body and Location as first sent, so a replay returns exactly
-- that. status is NULL while the claiming request runs; claim_id is that request's, so a
-- claim held past locked_until and taken over records nothing. Keys and requests are
-- stored as hex SHA-256 (the caller and key hashed together; method, target and body).
CREATE TABLE idempotency_keys (
    key_hash     VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    request_hash VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    claim_id     BINARY(16)   NOT NULL,
    locked_until DATETIME(6)  NOT NULL,
    created_at   DATETIME(6)  NOT NULL,
    status       BIGINT       NULL,
    body         MEDIUMTEXT   CHARACTER SET utf8mb4 NULL,
    location     VARCHAR(255) CHARACTER SET utf8mb4 NULL,
    CONSTRAINT pk_idempotency_keys PRIMARY KEY (key_hash),
    INDEX ix_idempotency_keys_created (created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
