-- Login throttling by counter: one row per login name with the attempts counted in its
-- current window and when that window began. An attempt is counted, or refused, by one
-- conditional UPDATE of this row, so parallel attempts queue on its lock; the table of
-- one row per failure it replaces was read, then written, and let bursts through.
DROP TABLE login_failures;
CREATE TABLE login_throttle (
    login        TEXT    NOT NULL CONSTRAINT pk_login_throttle PRIMARY KEY,
    failures     INTEGER NOT NULL,
    window_start TEXT    NOT NULL
) STRICT;
CREATE INDEX ix_login_throttle_window ON login_throttle (window_start);
