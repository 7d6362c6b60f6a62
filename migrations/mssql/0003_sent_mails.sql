-- One row per mail sent for an event to a user, written right after the mail server
-- accepted it and checked before sending: an event delivered twice mails once.
CREATE TABLE sent_mails (
    event_id BINARY(16)   NOT NULL,
    user_id  BINARY(16)   NOT NULL,
    sent_at  DATETIME2(6) NOT NULL,
    CONSTRAINT pk_sent_mails PRIMARY KEY (event_id, user_id)
);
