-- Login throttling by counter: one row per login name with the attempts counted in its
-- current window and when that window began. An attempt is counted, or refused, by one
-- conditional UPDATE of this row, so parallel attempts queue on its lock; the table of
-- one row per failure it replaces was read, then written, and let bursts through.
-- Nonclustered: an NVARCHAR(508) key may pass the 900 bytes a clustered key allows.
DROP TABLE login_failures;
CREATE TABLE login_throttle (
    login        NVARCHAR(508) COLLATE Latin1_General_100_BIN2 NOT NULL,
    failures     BIGINT        NOT NULL,
    window_start DATETIME2(6)  NOT NULL,
    CONSTRAINT pk_login_throttle PRIMARY KEY NONCLUSTERED (login)
);
CREATE INDEX ix_login_throttle_window ON login_throttle (window_start);
