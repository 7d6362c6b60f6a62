-- Outbox delivery under leases. A deliverer claims an event until claimed_until; if it
-- dies, the lease runs out and the event is claimable again. A failed delivery clears
-- claimed_by and sets claimed_until to when it may be retried (backoff). published_at
-- marks it delivered. Claims follow ix_outbox_unpublished (published_at, id).
ALTER TABLE outbox ADD attempts BIGINT NOT NULL CONSTRAINT df_outbox_attempts DEFAULT 0;
ALTER TABLE outbox ADD claimed_by BINARY(16) NULL;
ALTER TABLE outbox ADD claimed_until DATETIME2(6) NULL;
ALTER TABLE outbox ADD last_error NVARCHAR(MAX) NULL;
