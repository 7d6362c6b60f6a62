-- Mercado schema, SQLite dialect. Every table, column, constraint and index name here
-- is the same in migrations/postgres, migrations/mysql and migrations/mssql: the SQL
-- layer maps errors by constraint name.
-- Types: ids are 16-byte BLOBs (UUID v7, RFC byte order, so they sort by time), money is
-- TEXT with two fraction digits (a NUMERIC column would turn it into a float), times are
-- TEXT 'YYYY-MM-DDTHH:MM:SS.ffffffZ' (fixed width, so they sort as they compare).

CREATE TABLE users (
    id            BLOB    NOT NULL CONSTRAINT pk_users PRIMARY KEY,
    email         TEXT    NOT NULL CONSTRAINT uq_users_email UNIQUE,
    full_name     TEXT,
    password_hash TEXT    NOT NULL,
    is_active     INTEGER NOT NULL CONSTRAINT ck_users_is_active CHECK (is_active IN (0, 1)),
    is_superuser  INTEGER NOT NULL CONSTRAINT ck_users_is_superuser CHECK (is_superuser IN (0, 1)),
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL
) STRICT;
CREATE INDEX ix_users_created ON users (created_at, id);

CREATE TABLE products (
    id          BLOB    NOT NULL CONSTRAINT pk_products PRIMARY KEY,
    name        TEXT    NOT NULL,
    name_folded TEXT    NOT NULL,
    description TEXT,
    price       TEXT    NOT NULL,
    stock       INTEGER NOT NULL CONSTRAINT ck_products_stock CHECK (stock >= 0),
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
) STRICT;
CREATE INDEX ix_products_created ON products (created_at, id);

CREATE TABLE orders (
    id         BLOB NOT NULL CONSTRAINT pk_orders PRIMARY KEY,
    user_id    BLOB NOT NULL CONSTRAINT fk_orders_user REFERENCES users (id),
    status     TEXT NOT NULL CONSTRAINT ck_orders_status CHECK (status IN ('pending', 'cancelled')),
    total      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;
CREATE INDEX ix_orders_created ON orders (created_at, id);
CREATE INDEX ix_orders_user_created ON orders (user_id, created_at, id);

-- Lines keep their own copy of the product's name and price; product_id is not a
-- foreign key, so deleting a product leaves orders unchanged.
CREATE TABLE order_items (
    order_id     BLOB    NOT NULL CONSTRAINT fk_order_items_order REFERENCES orders (id),
    line_no      INTEGER NOT NULL,
    product_id   BLOB    NOT NULL,
    product_name TEXT    NOT NULL,
    unit_price   TEXT    NOT NULL,
    quantity     INTEGER NOT NULL CONSTRAINT ck_order_items_quantity CHECK (quantity > 0),
    CONSTRAINT pk_order_items PRIMARY KEY (order_id, line_no)
) STRICT;

-- Domain events, written in the same transaction as the change that caused them.
CREATE TABLE outbox (
    id           BLOB NOT NULL CONSTRAINT pk_outbox PRIMARY KEY,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    occurred_at  TEXT NOT NULL,
    published_at TEXT
) STRICT;
CREATE INDEX ix_outbox_unpublished ON outbox (published_at, id);

CREATE TABLE revoked_tokens (
    jti        BLOB NOT NULL CONSTRAINT pk_revoked_tokens PRIMARY KEY,
    expires_at TEXT NOT NULL
) STRICT;
CREATE INDEX ix_revoked_tokens_expires ON revoked_tokens (expires_at);

CREATE TABLE login_failures (
    id        BLOB NOT NULL CONSTRAINT pk_login_failures PRIMARY KEY,
    login     TEXT NOT NULL,
    failed_at TEXT NOT NULL
) STRICT;
CREATE INDEX ix_login_failures_login ON login_failures (login, failed_at);
CREATE INDEX ix_login_failures_failed ON login_failures (failed_at);
