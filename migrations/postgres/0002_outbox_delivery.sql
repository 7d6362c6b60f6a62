-- Outbox delivery under leases. A deliverer claims an event until claimed_until; if it
-- dies, the lease runs out and the event is claimable again. A failed delivery clears
-- claimed_by and sets claimed_until to when it may be retried (backoff). published_at
-- marks it delivered. Claims follow ix_outbox_unpublished (published_at, id).
ALTER TABLE outbox
    ADD COLUMN attempts      BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN claimed_by    UUID,
    ADD COLUMN claimed_until TIMESTAMPTZ,
    ADD COLUMN last_error    TEXT;
