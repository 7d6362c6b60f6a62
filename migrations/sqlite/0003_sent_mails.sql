-- One row per mail sent for an event to a user, written right after the mail server
-- accepted it and checked before sending: an event delivered twice mails once.
CREATE TABLE sent_mails (
    event_id BLOB NOT NULL,
    user_id  BLOB NOT NULL,
    sent_at  TEXT NOT NULL,
    CONSTRAINT pk_sent_mails PRIMARY KEY (event_id, user_id)
) STRICT;
