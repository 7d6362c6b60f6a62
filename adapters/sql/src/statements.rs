//! The statement catalogue: every statement Mercado runs, built once per dialect.
//!
//! Texts are written once with `?` placeholders where the dialects agree; where they
//! differ (paging, row locks, the migrations table) the variants stand side by side
//! here or in [`Dialect`]. Statements whose length depends on the input (`IN` lists,
//! multi-row inserts) are built for every size up front, so each one is prepared once
//! and cached by the driver. The column lists that reads decode come from the store module
//! that decodes them (`UserRow::COLUMNS`, …).

use mercado_core::domain::OrderLines;

use crate::Dialect;
use crate::store::{
    JobErrorRow, JobRow, KeyRow, OrderLineRow, OutboxRow, ProductRow, SessionRow, StockRow, UserRow,
};

/// Every statement, rendered for one dialect.
#[derive(Debug)]
pub(crate) struct Statements {
    pub dialect: Dialect,
    pub ping: String,
    pub gauges: String,
    pub insert_user: String,
    pub user_by_id: String,
    pub user_by_id_for_update: String,
    pub user_by_email: String,
    pub update_user: String,
    pub set_password_hash: String,
    pub count_users: String,
    pub list_users: String,
    pub active_superusers: String,
    pub was_mailed: String,
    pub record_mail: String,
    pub insert_product: String,
    pub product_by_id: String,
    pub product_by_id_for_update: String,
    pub update_product: String,
    pub delete_product: String,
    pub count_products: String,
    pub count_products_matching: String,
    pub list_products: String,
    pub list_products_matching: String,
    /// Index `n - 1` locks and reads `n` products by id, in id order.
    pub products_for_order: Vec<String>,
    pub take_stock: String,
    pub return_stock: String,
    pub insert_order: String,
    /// Index `n - 1` inserts `n` order lines.
    pub insert_order_items: Vec<String>,
    pub order_by_id: String,
    pub cancel_order: String,
    pub order_status: String,
    pub count_orders: String,
    pub count_orders_of_user: String,
    pub list_orders: String,
    pub list_orders_of_user: String,
    pub insert_event: String,
    pub claim_events: String,
    pub insert_job: String,
    pub insert_job_chunk: String,
    pub delete_job_chunks: String,
    pub job_by_id: String,
    pub job_errors: String,
    pub claim_job: String,
    pub take_job: String,
    pub job_chunk: String,
    pub product_names_priced: String,
    pub job_progress: String,
    pub insert_job_error: String,
    pub finish_job: String,
    pub take_event: String,
    pub complete_event: String,
    pub retry_event: String,
    pub insert_session: String,
    pub insert_refresh_token: String,
    pub spend_refresh_token: String,
    pub refresh_token_by_hash: String,
    pub touch_session: String,
    pub user_of_session: String,
    pub user_in_session: String,
    pub live_sessions: String,
    pub end_session_of_user: String,
    pub end_session: String,
    pub end_sessions_of_user: String,
    pub end_other_sessions: String,
    pub purge_refresh_tokens: String,
    pub discard_unused_tokens: String,
    pub insert_one_time_token: String,
    pub token_owner: String,
    pub use_token: String,
    pub verify_user_email: String,
    pub purge_one_time_tokens: String,
    pub purge_sessions: String,
    pub revoke_token: String,
    pub purge_revoked_tokens: String,
    pub is_token_revoked: String,
    pub admit_login: String,
    pub open_login_window: String,
    pub purge_login_windows: String,
    pub login_window_start: String,
    pub clear_login_failures: String,
    pub insert_key: String,
    pub take_over_key: String,
    pub key_by_hash: String,
    pub record_answer: String,
    pub release_key: String,
    pub purge_keys: String,
}

impl Statements {
    // The catalogue: one line per statement reads better than helpers split by size.
    #[allow(clippy::too_many_lines)]
    pub(crate) fn new(d: Dialect) -> Self {
        let r = |sql: &str| d.render(sql);
        let (hint, lock, paging) = (d.lock_hint(), d.lock_suffix(), d.paging());
        let (claim_hint, claim, first) = (d.claim_hint(), d.claim_suffix(), d.first_rows());
        let (users, products, jobs) = (UserRow::COLUMNS, ProductRow::COLUMNS, JobRow::COLUMNS);
        let keys = KeyRow::COLUMNS;
        let like =
            |column: &str| format!("{column} LIKE ? ESCAPE '{}'", crate::dialect::LIKE_ESCAPE);
        let order_page = |filter: &str| {
            format!(
                "SELECT {} \
                 FROM (SELECT id, user_id, status, created_at, updated_at FROM orders {filter} \
                       ORDER BY created_at DESC, id DESC {paging}) o \
                 JOIN order_items i ON i.order_id = o.id \
                 ORDER BY o.created_at DESC, o.id DESC, i.line_no",
                OrderLineRow::COLUMNS
            )
        };
        Self {
            dialect: d,
            ping: "SELECT 1".to_owned(),
            // One round trip for both backlogs; scalar subqueries need no FROM anywhere.
            gauges: r("SELECT (SELECT COUNT(*) FROM outbox WHERE published_at IS NULL), \
                 (SELECT COUNT(*) FROM jobs WHERE status IN (?, ?))"),
            insert_user: r(&format!("INSERT INTO users ({users}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")),
            user_by_id: r(&format!("SELECT {users} FROM users WHERE id = ?")),
            user_by_id_for_update: r(&format!("SELECT {users} FROM users{hint} WHERE id = ?{lock}")),
            user_by_email: r(&format!("SELECT {users} FROM users WHERE email = ?")),
            update_user: r("UPDATE users SET full_name = ?, is_active = ?, is_superuser = ?, updated_at = ? WHERE id = ?"),
            set_password_hash: r("UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?"),
            count_users: "SELECT COUNT(*) FROM users".to_owned(),
            list_users: r(&format!("SELECT {users} FROM users ORDER BY created_at, id {paging}")),
            // Booleans as parameters: T-SQL has no TRUE literal.
            active_superusers: r(&format!(
                "SELECT {users} FROM users WHERE is_superuser = ? AND is_active = ? ORDER BY created_at, id"
            )),
            was_mailed: r("SELECT COUNT(*) FROM sent_mails WHERE event_id = ? AND user_id = ?"),
            record_mail: r("INSERT INTO sent_mails (event_id, user_id, sent_at) VALUES (?, ?, ?)"),
            insert_product: r(&format!(
                "INSERT INTO products ({products}, name_folded) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            )),
            product_by_id: r(&format!("SELECT {products} FROM products WHERE id = ?")),
            product_by_id_for_update: r(&format!("SELECT {products} FROM products{hint} WHERE id = ?{lock}")),
            update_product: r(
                "UPDATE products SET name = ?, name_folded = ?, description = ?, price = ?, stock = ?, updated_at = ? \
                 WHERE id = ?",
            ),
            delete_product: r("DELETE FROM products WHERE id = ?"),
            count_products: "SELECT COUNT(*) FROM products".to_owned(),
            count_products_matching: r(&format!("SELECT COUNT(*) FROM products WHERE {}", like("name_folded"))),
            list_products: r(&format!("SELECT {products} FROM products ORDER BY created_at, id {paging}")),
            list_products_matching: r(&format!(
                "SELECT {products} FROM products WHERE {} ORDER BY created_at, id {paging}",
                like("name_folded")
            )),
            products_for_order: (1..=OrderLines::MAX)
                .map(|n| {
                    r(&format!(
                        "SELECT {} FROM products{hint}{} ORDER BY id{lock}",
                        StockRow::COLUMNS,
                        d.id_in(n)
                    ))
                })
                .collect(),
            take_stock: r("UPDATE products SET stock = stock - ?, updated_at = ? WHERE id = ? AND stock >= ?"),
            return_stock: r("UPDATE products SET stock = stock + ?, updated_at = ? WHERE id = ?"),
            insert_order: r("INSERT INTO orders (id, user_id, status, total, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)"),
            insert_order_items: (1..=OrderLines::MAX)
                .map(|n| {
                    let rows = vec!["(?, ?, ?, ?, ?, ?)"; n].join(", ");
                    r(&format!(
                        "INSERT INTO order_items (order_id, line_no, product_id, product_name, unit_price, quantity) \
                         VALUES {rows}"
                    ))
                })
                .collect(),
            order_by_id: r(&format!(
                "SELECT {} FROM orders o JOIN order_items i ON i.order_id = o.id WHERE o.id = ? ORDER BY i.line_no",
                OrderLineRow::COLUMNS
            )),
            cancel_order: r("UPDATE orders SET status = 'cancelled', updated_at = ? WHERE id = ? AND status = 'pending'"),
            order_status: r("SELECT status FROM orders WHERE id = ?"),
            count_orders: "SELECT COUNT(*) FROM orders".to_owned(),
            count_orders_of_user: r("SELECT COUNT(*) FROM orders WHERE user_id = ?"),
            list_orders: r(&order_page("")),
            list_orders_of_user: r(&order_page("WHERE user_id = ?")),
            insert_event: r("INSERT INTO outbox (id, kind, payload, occurred_at) VALUES (?, ?, ?, ?)"),
            // Oldest first along ix_outbox_unpublished; rows other claimers hold are skipped.
            claim_events: r(&format!(
                "SELECT {} FROM outbox{claim_hint} \
                 WHERE published_at IS NULL AND (claimed_until IS NULL OR claimed_until <= ?) \
                 ORDER BY id {first}{claim}",
                OutboxRow::COLUMNS
            )),
            insert_job: r(&format!("INSERT INTO jobs ({jobs}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")),
            insert_job_chunk: r("INSERT INTO job_chunks (job_id, seq, data) VALUES (?, ?, ?)"),
            delete_job_chunks: r("DELETE FROM job_chunks WHERE job_id = ?"),
            job_by_id: r(&format!("SELECT {jobs} FROM jobs WHERE id = ?")),
            job_errors: r(&format!(
                "SELECT {} FROM job_errors WHERE job_id = ? ORDER BY row_no",
                JobErrorRow::COLUMNS
            )),
            claim_job: r(&format!(
                "SELECT {jobs} FROM jobs{claim_hint} \
                 WHERE status IN ('queued', 'running') AND (claimed_until IS NULL OR claimed_until <= ?) \
                 ORDER BY id {first}{claim}"
            )),
            // The claim is this conditional write, whose row count says who won; the
            // locking read before it only keeps claimers off each other's rows (an engine
            // may ignore table hints).
            take_job: r(
                "UPDATE jobs SET status = 'running', claimed_by = ?, claimed_until = ?, attempts = attempts + 1, \
                 updated_at = ? WHERE id = ? AND status IN ('queued', 'running') \
                 AND (claimed_until IS NULL OR claimed_until <= ?)",
            ),
            job_chunk: r("SELECT data FROM job_chunks WHERE job_id = ? AND seq = ?"),
            // Collations differ (some fold case): candidates are compared exactly in Rust.
            product_names_priced: r("SELECT name FROM products WHERE name = ? AND price = ?"),
            job_progress: r(
                "UPDATE jobs SET rows_done = ?, rows_total = ?, claimed_until = ?, updated_at = ? \
                 WHERE id = ? AND claimed_by = ?",
            ),
            insert_job_error: r("INSERT INTO job_errors (job_id, row_no, message) VALUES (?, ?, ?)"),
            finish_job: r(
                "UPDATE jobs SET status = ?, claimed_by = NULL, claimed_until = NULL, updated_at = ? \
                 WHERE id = ? AND claimed_by = ?",
            ),
            take_event: r(
                "UPDATE outbox SET claimed_by = ?, claimed_until = ?, attempts = attempts + 1 \
                 WHERE id = ? AND published_at IS NULL AND (claimed_until IS NULL OR claimed_until <= ?)",
            ),
            complete_event: r(
                "UPDATE outbox SET published_at = ?, claimed_by = NULL, claimed_until = NULL \
                 WHERE id = ? AND claimed_by = ?",
            ),
            retry_event: r(
                "UPDATE outbox SET claimed_by = NULL, claimed_until = ?, last_error = ? \
                 WHERE id = ? AND claimed_by = ?",
            ),
            insert_session: r(&format!("INSERT INTO sessions ({}, ended_at) VALUES (?, ?, ?, ?, ?, ?, NULL)", SessionRow::COLUMNS)),
            insert_refresh_token: r("INSERT INTO refresh_tokens (token_hash, session_id, expires_at, spent_at) VALUES (?, ?, ?, NULL)"),
            // Spent only while unspent, unexpired and its session live: the row count decides.
            spend_refresh_token: r(
                "UPDATE refresh_tokens SET spent_at = ? \
                 WHERE token_hash = ? AND spent_at IS NULL AND expires_at > ? \
                 AND EXISTS (SELECT 1 FROM sessions WHERE sessions.id = refresh_tokens.session_id \
                             AND sessions.ended_at IS NULL AND sessions.expires_at > ?)",
            ),
            refresh_token_by_hash: r("SELECT session_id, spent_at FROM refresh_tokens WHERE token_hash = ?"),
            touch_session: r("UPDATE sessions SET last_used_at = ?, expires_at = ? WHERE id = ?"),
            user_of_session: r(&format!(
                "SELECT {users} FROM users WHERE id = (SELECT user_id FROM sessions WHERE sessions.id = ?)"
            )),
            // COUNT(*) by key: 1 or 0, typed as every other count.
            user_in_session: r(&format!(
                "SELECT {users}, (SELECT COUNT(*) FROM sessions \
                 WHERE sessions.id = ? AND sessions.user_id = users.id \
                 AND sessions.ended_at IS NULL AND sessions.expires_at > ?) \
                 FROM users WHERE id = ?"
            )),
            live_sessions: r(&format!(
                "SELECT {} FROM sessions WHERE user_id = ? AND ended_at IS NULL AND expires_at > ? \
                 ORDER BY created_at DESC, id DESC",
                SessionRow::COLUMNS
            )),
            end_session_of_user: r(
                "UPDATE sessions SET ended_at = ? \
                 WHERE id = ? AND user_id = ? AND ended_at IS NULL AND expires_at > ?",
            ),
            end_session: r("UPDATE sessions SET ended_at = ? WHERE id = ? AND ended_at IS NULL"),
            end_sessions_of_user: r("UPDATE sessions SET ended_at = ? WHERE user_id = ? AND ended_at IS NULL"),
            end_other_sessions: r(
                "UPDATE sessions SET ended_at = ? WHERE user_id = ? AND ended_at IS NULL AND id <> ?",
            ),
            purge_refresh_tokens: r(
                "DELETE FROM refresh_tokens WHERE session_id IN (SELECT id FROM sessions \
                 WHERE ended_at < ? OR expires_at < ?)",
            ),
            purge_sessions: r("DELETE FROM sessions WHERE ended_at < ? OR expires_at < ?"),
            discard_unused_tokens: r(
                "DELETE FROM one_time_tokens WHERE user_id = ? AND purpose = ? AND used_at IS NULL",
            ),
            insert_one_time_token: r(
                "INSERT INTO one_time_tokens (token_hash, user_id, purpose, expires_at, used_at) \
                 VALUES (?, ?, ?, ?, NULL)",
            ),
            token_owner: r(
                "SELECT user_id FROM one_time_tokens \
                 WHERE token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?",
            ),
            // Used only while unused and unexpired: the row count decides.
            use_token: r(
                "UPDATE one_time_tokens SET used_at = ? \
                 WHERE token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?",
            ),
            verify_user_email: r("UPDATE users SET email_verified = ?, updated_at = ? WHERE id = ?"),
            purge_one_time_tokens: r("DELETE FROM one_time_tokens WHERE used_at < ? OR expires_at < ?"),
            revoke_token: r("INSERT INTO revoked_tokens (jti, expires_at) VALUES (?, ?)"),
            purge_revoked_tokens: r("DELETE FROM revoked_tokens WHERE expires_at < ?"),
            is_token_revoked: r("SELECT COUNT(*) FROM revoked_tokens WHERE jti = ?"),
            // One attempt more in the login's window, or a new window when it has passed;
            // no row changes once the window is full. One statement, so parallel attempts
            // queue on the row lock and each sees the count the previous one left.
            // `failures` is set first: MySQL's later assignments see earlier ones.
            admit_login: r("UPDATE login_throttle SET \
                failures = CASE WHEN window_start < ? THEN 1 ELSE failures + 1 END, \
                window_start = CASE WHEN window_start < ? THEN ? ELSE window_start END \
                WHERE login = ? AND (window_start < ? OR failures < ?)"),
            open_login_window: r("INSERT INTO login_throttle (login, failures, window_start) \
                SELECT ?, 1, ? WHERE NOT EXISTS (SELECT 1 FROM login_throttle WHERE login = ?)"),
            purge_login_windows: r("DELETE FROM login_throttle WHERE window_start < ?"),
            login_window_start: r("SELECT window_start FROM login_throttle WHERE login = ?"),
            clear_login_failures: r("DELETE FROM login_throttle WHERE login = ?"),
            insert_key: r("INSERT INTO idempotency_keys \
                (key_hash, request_hash, claim_id, locked_until, created_at) VALUES (?, ?, ?, ?, ?)"),
            // A forgotten key (past retention), or one this same request claimed and
            // never answered (its lease over): the row count decides which retry has it.
            take_over_key: r("UPDATE idempotency_keys SET request_hash = ?, claim_id = ?, \
                locked_until = ?, created_at = ?, status = NULL, body = NULL, location = NULL \
                WHERE key_hash = ? AND (created_at < ? \
                    OR (status IS NULL AND locked_until <= ? AND request_hash = ?))"),
            key_by_hash: r(&format!("SELECT {keys} FROM idempotency_keys WHERE key_hash = ?")),
            // Only by the claim that holds the key, once.
            record_answer: r("UPDATE idempotency_keys SET status = ?, body = ?, location = ? \
                WHERE key_hash = ? AND claim_id = ? AND status IS NULL"),
            release_key: r("DELETE FROM idempotency_keys \
                WHERE key_hash = ? AND claim_id = ? AND status IS NULL"),
            purge_keys: r("DELETE FROM idempotency_keys WHERE created_at < ?"),
        }
    }
}

impl Statements {
    /// Every statement text, for checks that must see them all.
    #[cfg(test)]
    fn all(&self) -> Vec<&str> {
        let mut all = vec![
            self.ping.as_str(),
            &self.gauges,
            &self.insert_user,
            &self.user_by_id,
            &self.user_by_id_for_update,
            &self.user_by_email,
            &self.update_user,
            &self.set_password_hash,
            &self.count_users,
            &self.list_users,
            &self.active_superusers,
            &self.was_mailed,
            &self.record_mail,
            &self.insert_product,
            &self.product_by_id,
            &self.product_by_id_for_update,
            &self.update_product,
            &self.delete_product,
            &self.count_products,
            &self.count_products_matching,
            &self.list_products,
            &self.list_products_matching,
            &self.take_stock,
            &self.return_stock,
            &self.insert_order,
            &self.order_by_id,
            &self.cancel_order,
            &self.order_status,
            &self.count_orders,
            &self.count_orders_of_user,
            &self.list_orders,
            &self.list_orders_of_user,
            &self.insert_event,
            &self.claim_events,
            &self.insert_job,
            &self.insert_job_chunk,
            &self.delete_job_chunks,
            &self.job_by_id,
            &self.job_errors,
            &self.claim_job,
            &self.take_job,
            &self.job_chunk,
            &self.product_names_priced,
            &self.job_progress,
            &self.insert_job_error,
            &self.finish_job,
            &self.take_event,
            &self.complete_event,
            &self.retry_event,
            &self.insert_session,
            &self.insert_refresh_token,
            &self.spend_refresh_token,
            &self.refresh_token_by_hash,
            &self.touch_session,
            &self.user_of_session,
            &self.user_in_session,
            &self.live_sessions,
            &self.end_session_of_user,
            &self.end_session,
            &self.end_sessions_of_user,
            &self.end_other_sessions,
            &self.purge_refresh_tokens,
            &self.discard_unused_tokens,
            &self.insert_one_time_token,
            &self.token_owner,
            &self.use_token,
            &self.verify_user_email,
            &self.purge_one_time_tokens,
            &self.purge_sessions,
            &self.revoke_token,
            &self.purge_revoked_tokens,
            &self.is_token_revoked,
            &self.admit_login,
            &self.open_login_window,
            &self.purge_login_windows,
            &self.login_window_start,
            &self.clear_login_failures,
            &self.insert_key,
            &self.take_over_key,
            &self.key_by_hash,
            &self.record_answer,
            &self.release_key,
            &self.purge_keys,
        ];
        all.extend(self.products_for_order.iter().map(String::as_str));
        all.extend(self.insert_order_items.iter().map(String::as_str));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real parser per dialect reads every statement.
    #[test]
    fn every_statement_parses_in_its_own_dialect() {
        for &dialect in Dialect::ALL {
            let statements = Statements::new(dialect);
            for sql in statements.all() {
                let sql = literal_fetch_count(sql);
                if let Err(e) = dialect.parse(&sql) {
                    panic!("{dialect:?} does not parse {sql}: {e}");
                }
            }
        }
    }

    /// T-SQL takes a parameter in `FETCH NEXT @P2 ROWS ONLY`; sqlparser 0.64 only a
    /// literal there. The parse check swaps that one parameter for a number and nothing else.
    fn literal_fetch_count(sql: &str) -> String {
        const MARKER: &str = "FETCH NEXT @P";
        let Some(at) = sql.find(MARKER) else {
            return sql.to_owned();
        };
        let digits = sql[at + MARKER.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .count();
        let end = at + MARKER.len() + digits;
        assert!(sql[end..].starts_with(" ROWS ONLY"), "{sql}");
        format!("{}FETCH NEXT 50{}", &sql[..at], &sql[end..])
    }

    #[test]
    fn every_size_of_order_has_its_statements() {
        let s = Statements::new(Dialect::Postgres);
        assert_eq!(s.products_for_order.len(), OrderLines::MAX);
        assert!(s.products_for_order[2].contains("IN ($1, $2, $3)"));
        assert!(s.products_for_order[0].ends_with("FOR UPDATE"));
        assert!(s.insert_order_items[1].ends_with("($7, $8, $9, $10, $11, $12)"));
    }

    #[test]
    fn sql_server_locks_with_table_hints_and_pages_with_offset_fetch() {
        let s = Statements::new(Dialect::MsSql);
        assert!(
            s.product_by_id_for_update
                .contains("FROM products WITH (UPDLOCK, ROWLOCK) WHERE id = @P1")
        );
        assert!(
            s.list_users
                .ends_with("OFFSET @P1 ROWS FETCH NEXT @P2 ROWS ONLY")
        );
        assert!(s.products_for_order[1].contains(
            "FROM products WITH (UPDLOCK, ROWLOCK) JOIN (VALUES (@P1), (@P2)) AS wanted (wanted_id) ON id = wanted_id ORDER BY id"
        ));
    }

    /// sqlparser is lenient across dialects (it reads `LIMIT` as T-SQL too), so the
    /// constructs SQL Server lacks are ruled out by name.
    #[test]
    fn sql_server_statements_use_no_syntax_it_lacks() {
        for sql in Statements::new(Dialect::MsSql).all() {
            for foreign in [
                "LIMIT",
                "FOR UPDATE",
                "RETURNING",
                "?",
                "$1",
                "TRUE",
                "FALSE",
                "ON CONFLICT",
            ] {
                assert!(!sql.contains(foreign), "{foreign} in {sql}");
            }
        }
    }

    #[test]
    fn outbox_claims_skip_rows_others_hold() {
        let pg = Statements::new(Dialect::Postgres).claim_events;
        assert!(
            pg.ends_with("ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED"),
            "{pg}"
        );
        let ms = Statements::new(Dialect::MsSql).claim_events;
        assert!(
            ms.contains("FROM outbox WITH (UPDLOCK, READPAST, ROWLOCK) WHERE"),
            "{ms}"
        );
        assert!(
            ms.ends_with("ORDER BY id OFFSET 0 ROWS FETCH NEXT @P2 ROWS ONLY"),
            "{ms}"
        );
        let lite = Statements::new(Dialect::Sqlite).claim_events;
        assert!(lite.ends_with("ORDER BY id LIMIT ?"), "{lite}");
    }

    #[test]
    fn sqlite_takes_no_row_locks() {
        let s = Statements::new(Dialect::Sqlite);
        assert!(!s.product_by_id_for_update.contains("FOR UPDATE"));
        assert!(
            s.count_products_matching
                .ends_with("name_folded LIKE ? ESCAPE '!'")
        );
    }
}
