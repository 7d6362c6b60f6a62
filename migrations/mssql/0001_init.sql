-- Mercado schema, SQL Server 2017+ dialect: the same tables, columns, constraint and
-- index names as every other migrations/<dialect> folder. One batch (no GO).
-- Types: BINARY(16) ids in RFC byte order, so UUID v7 keys grow at the end of the
-- clustered index and sort as everywhere else (UNIQUEIDENTIFIER sorts by its last six
-- bytes, which would scatter inserts and reorder pages); DECIMAL money (exact);
-- DATETIME2(6) UTC times. NVARCHAR lengths are UTF-16 code units: twice the domain's
-- character limits, so characters outside the BMP fit. Compared text (emails, folded
-- names, logins) is Latin1_General_100_BIN2, compared by code point as on every other
-- database: the application already folds case, and a case- or accent-insensitive
-- default collation would make 'élodie@x.fr' and 'Elodie@x.fr' one email.

CREATE TABLE users (
    id            BINARY(16)     NOT NULL CONSTRAINT pk_users PRIMARY KEY,
    email         NVARCHAR(508)  COLLATE Latin1_General_100_BIN2 NOT NULL CONSTRAINT uq_users_email UNIQUE,
    full_name     NVARCHAR(510)  NULL,
    password_hash NVARCHAR(255)  NOT NULL,
    is_active     BIT            NOT NULL CONSTRAINT ck_users_is_active CHECK (is_active IN (0, 1)),
    is_superuser  BIT            NOT NULL CONSTRAINT ck_users_is_superuser CHECK (is_superuser IN (0, 1)),
    created_at    DATETIME2(6)   NOT NULL,
    updated_at    DATETIME2(6)   NOT NULL
);
CREATE INDEX ix_users_created ON users (created_at, id);

CREATE TABLE products (
    id          BINARY(16)     NOT NULL CONSTRAINT pk_products PRIMARY KEY,
    name        NVARCHAR(400)  NOT NULL,
    name_folded NVARCHAR(800)  COLLATE Latin1_General_100_BIN2 NOT NULL,
    description NVARCHAR(4000) NULL,
    price       DECIMAL(10,2)  NOT NULL,
    stock       BIGINT         NOT NULL CONSTRAINT ck_products_stock CHECK (stock >= 0),
    created_at  DATETIME2(6)   NOT NULL,
    updated_at  DATETIME2(6)   NOT NULL
);
CREATE INDEX ix_products_created ON products (created_at, id);

CREATE TABLE orders (
    id         BINARY(16)    NOT NULL CONSTRAINT pk_orders PRIMARY KEY,
    user_id    BINARY(16)    NOT NULL CONSTRAINT fk_orders_user REFERENCES users (id),
    status     NVARCHAR(16)  NOT NULL CONSTRAINT ck_orders_status CHECK (status IN ('pending', 'cancelled')),
    total      DECIMAL(18,2) NOT NULL,
    created_at DATETIME2(6)  NOT NULL,
    updated_at DATETIME2(6)  NOT NULL
);
CREATE INDEX ix_orders_created ON orders (created_at, id);
CREATE INDEX ix_orders_user_created ON orders (user_id, created_at, id);

-- Lines keep their own copy of the product's name and price; product_id is not a
-- foreign key, so deleting a product leaves orders unchanged.
CREATE TABLE order_items (
    order_id     BINARY(16)    NOT NULL CONSTRAINT fk_order_items_order REFERENCES orders (id),
    line_no      BIGINT        NOT NULL,
    product_id   BINARY(16)    NOT NULL,
    product_name NVARCHAR(400) NOT NULL,
    unit_price   DECIMAL(10,2) NOT NULL,
    quantity     BIGINT        NOT NULL CONSTRAINT ck_order_items_quantity CHECK (quantity > 0),
    CONSTRAINT pk_order_items PRIMARY KEY (order_id, line_no)
);

-- Domain events, written in the same transaction as the change that caused them.
CREATE TABLE outbox (
    id           BINARY(16)    NOT NULL CONSTRAINT pk_outbox PRIMARY KEY,
    kind         NVARCHAR(64)  NOT NULL,
    payload      NVARCHAR(MAX) NOT NULL,
    occurred_at  DATETIME2(6)  NOT NULL,
    published_at DATETIME2(6)  NULL
);
CREATE INDEX ix_outbox_unpublished ON outbox (published_at, id);

CREATE TABLE revoked_tokens (
    jti        BINARY(16)   NOT NULL CONSTRAINT pk_revoked_tokens PRIMARY KEY,
    expires_at DATETIME2(6) NOT NULL
);
CREATE INDEX ix_revoked_tokens_expires ON revoked_tokens (expires_at);

CREATE TABLE login_failures (
    id        BINARY(16)    NOT NULL CONSTRAINT pk_login_failures PRIMARY KEY,
    login     NVARCHAR(508) COLLATE Latin1_General_100_BIN2 NOT NULL,
    failed_at DATETIME2(6)  NOT NULL
);
CREATE INDEX ix_login_failures_login ON login_failures (login, failed_at);
CREATE INDEX ix_login_failures_failed ON login_failures (failed_at);
