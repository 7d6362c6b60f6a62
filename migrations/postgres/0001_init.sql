-- Mercado schema, PostgreSQL dialect: the same tables, columns, constraint and index
-- names as every other migrations/<dialect> folder.
-- Types: UUID ids, NUMERIC money (exact), TIMESTAMPTZ times (microseconds).

CREATE TABLE users (
    id            UUID        NOT NULL CONSTRAINT pk_users PRIMARY KEY,
    email         TEXT        NOT NULL CONSTRAINT uq_users_email UNIQUE,
    full_name     TEXT,
    password_hash TEXT        NOT NULL,
    is_active     BOOLEAN     NOT NULL CONSTRAINT ck_users_is_active CHECK (is_active IN (TRUE, FALSE)),
    is_superuser  BOOLEAN     NOT NULL CONSTRAINT ck_users_is_superuser CHECK (is_superuser IN (TRUE, FALSE)),
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX ix_users_created ON users (created_at, id);

CREATE TABLE products (
    id          UUID          NOT NULL CONSTRAINT pk_products PRIMARY KEY,
    name        TEXT          NOT NULL,
    name_folded TEXT          NOT NULL,
    description TEXT,
    price       NUMERIC(10,2) NOT NULL,
    stock       BIGINT        NOT NULL CONSTRAINT ck_products_stock CHECK (stock >= 0),
    created_at  TIMESTAMPTZ   NOT NULL,
    updated_at  TIMESTAMPTZ   NOT NULL
);
CREATE INDEX ix_products_created ON products (created_at, id);

CREATE TABLE orders (
    id         UUID          NOT NULL CONSTRAINT pk_orders PRIMARY KEY,
    user_id    UUID          NOT NULL CONSTRAINT fk_orders_user REFERENCES users (id),
    status     TEXT          NOT NULL CONSTRAINT ck_orders_status CHECK (status IN ('pending', 'cancelled')),
    total      NUMERIC(18,2) NOT NULL,
    created_at TIMESTAMPTZ   NOT NULL,
    updated_at TIMESTAMPTZ   NOT NULL
);
CREATE INDEX ix_orders_created ON orders (created_at, id);
CREATE INDEX ix_orders_user_created ON orders (user_id, created_at, id);

-- Lines keep their own copy of the product's name and price; product_id is not a
-- foreign key, so deleting a product leaves orders unchanged.
CREATE TABLE order_items (
    order_id     UUID          NOT NULL CONSTRAINT fk_order_items_order REFERENCES orders (id),
    line_no      BIGINT        NOT NULL,
    product_id   UUID          NOT NULL,
    product_name TEXT          NOT NULL,
    unit_price   NUMERIC(10,2) NOT NULL,
    quantity     BIGINT        NOT NULL CONSTRAINT ck_order_items_quantity CHECK (quantity > 0),
    CONSTRAINT pk_order_items PRIMARY KEY (order_id, line_no)
);

-- Domain events, written in the same transaction as the change that caused them.
CREATE TABLE outbox (
    id           UUID        NOT NULL CONSTRAINT pk_outbox PRIMARY KEY,
    kind         TEXT        NOT NULL,
    payload      TEXT        NOT NULL,
    occurred_at  TIMESTAMPTZ NOT NULL,
    published_at TIMESTAMPTZ
);
CREATE INDEX ix_outbox_unpublished ON outbox (published_at, id);

CREATE TABLE revoked_tokens (
    jti        UUID        NOT NULL CONSTRAINT pk_revoked_tokens PRIMARY KEY,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX ix_revoked_tokens_expires ON revoked_tokens (expires_at);

CREATE TABLE login_failures (
    id        UUID        NOT NULL CONSTRAINT pk_login_failures PRIMARY KEY,
    login     TEXT        NOT NULL,
    failed_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX ix_login_failures_login ON login_failures (login, failed_at);
CREATE INDEX ix_login_failures_failed ON login_failures (failed_at);
