-- Background jobs (product imports). The upload is kept in job_chunks, in order, so
-- any worker can read it; rows_done is the resume point for a worker whose lease ran
-- out; errors are one row each, by CSV row number.
CREATE TABLE jobs (
    id            BINARY(16)  NOT NULL,
    kind          VARCHAR(32) NOT NULL,
    status        VARCHAR(16) NOT NULL,
    rows_done     BIGINT      NOT NULL,
    rows_total    BIGINT      NOT NULL,
    attempts      BIGINT      NOT NULL,
    claimed_by    BINARY(16)  NULL,
    claimed_until DATETIME(6) NULL,
    created_at    DATETIME(6) NOT NULL,
    updated_at    DATETIME(6) NOT NULL,
    CONSTRAINT pk_jobs PRIMARY KEY (id),
    CONSTRAINT ck_jobs_status CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    INDEX ix_jobs_claimable (status, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE job_chunks (
    job_id BINARY(16) NOT NULL,
    seq    BIGINT     NOT NULL,
    data   MEDIUMTEXT CHARACTER SET utf8mb4 NOT NULL,
    CONSTRAINT pk_job_chunks PRIMARY KEY (job_id, seq)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE job_errors (
    job_id  BINARY(16) NOT NULL,
    row_no  BIGINT     NOT NULL,
    message TEXT       CHARACTER SET utf8mb4 NOT NULL,
    CONSTRAINT pk_job_errors PRIMARY KEY (job_id, row_no)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Re-imports look rows up by name and price.
CREATE INDEX ix_products_name_price ON products (name, price);
