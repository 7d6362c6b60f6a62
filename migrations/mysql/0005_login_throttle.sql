-- Login throttling by counter: one row per login name with the attempts counted in its
-- current window and when that window began. An attempt is counted, or refused, by one
-- conditional UPDATE of this row, so parallel attempts queue on its lock; the table of
-- one row per failure it replaces was read, then written, and let bursts through.
DROP TABLE login_failures;
CREATE TABLE login_throttle (
    login        VARCHAR(254) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    failures     BIGINT       NOT NULL,
    window_start DATETIME(6)  NOT NULL,
    CONSTRAINT pk_login_throttle PRIMARY KEY (login),
    INDEX ix_login_throttle_window (window_start)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
