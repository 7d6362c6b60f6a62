-- Mercado schema, MySQL 8 / MariaDB 10.6+ dialect: the same tables, columns, constraint
-- and index names as every other migrations/<dialect> folder.
-- Types: BINARY(16) ids (RFC byte order, so v7 ids sort by time), DECIMAL money (exact),
-- DATETIME(6) UTC times. Compared text (emails, folded names, logins) is utf8mb4_bin:
-- the application already folds case, and an accent-insensitive collation would make
-- 'élodie@x.fr' and 'elodie@x.fr' the same email.

CREATE TABLE users (
    id            BINARY(16)   NOT NULL,
    email         VARCHAR(254) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    full_name     VARCHAR(255) CHARACTER SET utf8mb4 NULL,
    password_hash VARCHAR(255) CHARACTER SET utf8mb4 NOT NULL,
    is_active     BOOLEAN      NOT NULL,
    is_superuser  BOOLEAN      NOT NULL,
    created_at    DATETIME(6)  NOT NULL,
    updated_at    DATETIME(6)  NOT NULL,
    CONSTRAINT pk_users PRIMARY KEY (id),
    CONSTRAINT uq_users_email UNIQUE (email),
    CONSTRAINT ck_users_is_active CHECK (is_active IN (0, 1)),
    CONSTRAINT ck_users_is_superuser CHECK (is_superuser IN (0, 1)),
    INDEX ix_users_created (created_at, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE products (
    id          BINARY(16)    NOT NULL,
    name        VARCHAR(200)  CHARACTER SET utf8mb4 NOT NULL,
    name_folded VARCHAR(400)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    description TEXT          CHARACTER SET utf8mb4 NULL,
    price       DECIMAL(10,2) NOT NULL,
    stock       BIGINT        NOT NULL,
    created_at  DATETIME(6)   NOT NULL,
    updated_at  DATETIME(6)   NOT NULL,
    CONSTRAINT pk_products PRIMARY KEY (id),
    CONSTRAINT ck_products_stock CHECK (stock >= 0),
    INDEX ix_products_created (created_at, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE orders (
    id         BINARY(16)    NOT NULL,
    user_id    BINARY(16)    NOT NULL,
    status     VARCHAR(16)   NOT NULL,
    total      DECIMAL(18,2) NOT NULL,
    created_at DATETIME(6)   NOT NULL,
    updated_at DATETIME(6)   NOT NULL,
    CONSTRAINT pk_orders PRIMARY KEY (id),
    CONSTRAINT fk_orders_user FOREIGN KEY (user_id) REFERENCES users (id),
    CONSTRAINT ck_orders_status CHECK (status IN ('pending', 'cancelled')),
    INDEX ix_orders_created (created_at, id),
    INDEX ix_orders_user_created (user_id, created_at, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Lines keep their own copy of the product's name and price; product_id is not a
-- foreign key, so deleting a product leaves orders unchanged.
CREATE TABLE order_items (
    order_id     BINARY(16)    NOT NULL,
    line_no      BIGINT        NOT NULL,
    product_id   BINARY(16)    NOT NULL,
    product_name VARCHAR(200)  CHARACTER SET utf8mb4 NOT NULL,
    unit_price   DECIMAL(10,2) NOT NULL,
    quantity     BIGINT        NOT NULL,
    CONSTRAINT pk_order_items PRIMARY KEY (order_id, line_no),
    CONSTRAINT fk_order_items_order FOREIGN KEY (order_id) REFERENCES orders (id),
    CONSTRAINT ck_order_items_quantity CHECK (quantity > 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Domain events, written in the same transaction as the change that caused them.
CREATE TABLE outbox (
    id           BINARY(16)  NOT NULL,
    kind         VARCHAR(64) NOT NULL,
    payload      MEDIUMTEXT  CHARACTER SET utf8mb4 NOT NULL,
    occurred_at  DATETIME(6) NOT NULL,
    published_at DATETIME(6) NULL,
    CONSTRAINT pk_outbox PRIMARY KEY (id),
    INDEX ix_outbox_unpublished (published_at, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE revoked_tokens (
    jti        BINARY(16)  NOT NULL,
    expires_at DATETIME(6) NOT NULL,
    CONSTRAINT pk_revoked_tokens PRIMARY KEY (jti),
    INDEX ix_revoked_tokens_expires (expires_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE login_failures (
    id        BINARY(16)   NOT NULL,
    login     VARCHAR(254) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    failed_at DATETIME(6)  NOT NULL,
    CONSTRAINT pk_login_failures PRIMARY KEY (id),
    INDEX ix_login_failures_login (login, failed_at),
    INDEX ix_login_failures_failed (failed_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
