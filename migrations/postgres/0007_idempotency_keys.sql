-- Idempotency keys (API.md v1.1). A key is claimed by one INSERT (the primary key decides
-- which of concurrent requests runs) and answered by the change it answers, in the same
-- transaction: status, body and Location as first sent, so a replay returns exactly
-- that. status is NULL while the claiming request runs; claim_id is that request's, so a
-- claim held past locked_until and taken over records nothing. Keys and requests are
-- stored as hex SHA-256 (the caller and key hashed together; method, target and body).
CREATE TABLE idempotency_keys (
    key_hash     TEXT        NOT NULL CONSTRAINT pk_idempotency_keys PRIMARY KEY,
    request_hash TEXT        NOT NULL,
    claim_id     UUID        NOT NULL,
    locked_until TIMESTAMPTZ NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    status       BIGINT,
    body         TEXT,
    location     TEXT
);
CREATE INDEX ix_idempotency_keys_created ON idempotency_keys (created_at);
