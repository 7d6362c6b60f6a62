-- Idempotency keys (API.md v1.1). A key is claimed by one INSERT (the primary key decides
-- which of concurrent requests runs) and answered by the change it answers, in the same
-- transaction: status, body and Location as first sent, so a replay returns exactly
-- that. status is NULL while the claiming request runs; claim_id is that request's, so a
-- claim held past locked_until and taken over records nothing. Keys and requests are
-- stored as hex SHA-256 (the caller and key hashed together; method, target and body).
-- Hashes are NVARCHAR like the parameters that look them up, so the key is sought, never
-- converted.
CREATE TABLE idempotency_keys (
    key_hash     NVARCHAR(64)  COLLATE Latin1_General_100_BIN2 NOT NULL CONSTRAINT pk_idempotency_keys PRIMARY KEY,
    request_hash NVARCHAR(64)  COLLATE Latin1_General_100_BIN2 NOT NULL,
    claim_id     BINARY(16)    NOT NULL,
    locked_until DATETIME2(6)  NOT NULL,
    created_at   DATETIME2(6)  NOT NULL,
    status       BIGINT        NULL,
    body         NVARCHAR(MAX) NULL,
    location     NVARCHAR(255) NULL
);
CREATE INDEX ix_idempotency_keys_created ON idempotency_keys (created_at);
