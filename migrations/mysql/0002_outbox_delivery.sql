-- Outbox delivery under leases. A deliverer claims an event until claimed_until; if it
-- dies, the lease runs out and the event is claimable again. A failed delivery clears
-- claimed_by and sets claimed_until to when it may be retried (backoff). published_at
-- marks it delivered. Claims follow ix_outbox_unpublished (published_at, id).
ALTER TABLE outbox
    ADD COLUMN attempts      BIGINT      NOT NULL DEFAULT 0,
    ADD COLUMN claimed_by    BINARY(16)  NULL,
    ADD COLUMN claimed_until DATETIME(6) NULL,
    ADD COLUMN last_error    TEXT        CHARACTER SET utf8mb4 NULL;
