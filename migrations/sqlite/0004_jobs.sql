-- Background jobs (product imports). The upload is kept in job_chunks, in order, so
-- any worker can read it; rows_done is the resume point for a worker whose lease ran
-- out; errors are one row each, by CSV row number.
CREATE TABLE jobs (
    id            BLOB    NOT NULL CONSTRAINT pk_jobs PRIMARY KEY,
    kind          TEXT    NOT NULL,
    status        TEXT    NOT NULL CONSTRAINT ck_jobs_status CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    rows_done     INTEGER NOT NULL,
    rows_total    INTEGER NOT NULL,
    attempts      INTEGER NOT NULL,
    claimed_by    BLOB,
    claimed_until TEXT,
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL
) STRICT;
CREATE INDEX ix_jobs_claimable ON jobs (status, id);

CREATE TABLE job_chunks (
    job_id BLOB    NOT NULL,
    seq    INTEGER NOT NULL,
    data   TEXT    NOT NULL,
    CONSTRAINT pk_job_chunks PRIMARY KEY (job_id, seq)
) STRICT;

CREATE TABLE job_errors (
    job_id  BLOB    NOT NULL,
    row_no  INTEGER NOT NULL,
    message TEXT    NOT NULL,
    CONSTRAINT pk_job_errors PRIMARY KEY (job_id, row_no)
) STRICT;

-- Re-imports look rows up by name and price.
CREATE INDEX ix_products_name_price ON products (name, price);
