//! No N+1 anywhere, on every database: the core services run over a real `SqlStore`
//! whose executor counts the statements it sends ([`Counting`]), and each operation is
//! measured at two sizes. A page costs the same number of statements whatever it holds,
//! and at most two (its rows, its total); an order is read in one; resolving a token's
//! actor costs the same whatever the tables hold. Placing and cancelling an order are
//! measured exactly: a fixed few statements plus one stock update per line (and one outbox
//! insert per event), so any further per-line statement fails them too.
//!
//! `BEGIN`/`COMMIT` are not counted as statements (the tally keeps them apart).
//! Measured counts are printed (`--nocapture`) as `statements [<dialect>] <operation>: n`.

use std::sync::Arc;

use mercado_core::SystemClock;
use mercado_core::domain::{
    Actor, Email, NewOrderLine, NewProduct, NewUser, Order, OrderLines, Page, Password, Price,
    ProductId, ProductName, ProductQuery, Quantity, SearchText, Stock, TokenId,
};
use mercado_core::password::PasswordHasher;
use mercado_core::service::{Commands, Queries, ServiceConfig, services};
use mercado_sql::{Executor, SqlStore};
use mercado_tests::counting::{Counting, StatementLog, Tally};
use mercado_tests::{Backend, conformance, unique_email, unique_password, with_scratch_executor};

conformance!(
    a_product_page_and_its_total_take_two_statements_whatever_the_page_holds,
    an_order_of_fifty_items_is_read_in_one_statement,
    an_order_page_takes_two_statements_whatever_its_orders_and_items,
    a_user_page_and_its_total_take_two_statements_whatever_the_page_holds,
    placing_an_order_costs_a_fixed_few_statements_plus_one_stock_update_per_line,
    cancelling_an_order_costs_a_fixed_few_statements_plus_one_stock_update_per_line,
    resolving_a_tokens_actor_costs_the_same_whatever_the_tables_hold,
    a_recovery_request_sends_the_same_statements_for_any_address,
    a_refresh_costs_a_fixed_few_statements_and_no_password_hash,
);

/// The most statements a page with its total may take: the rows and the count.
const PAGE_BOUND: usize = 2;

type Store<E> = SqlStore<Counting<E>>;

/// The services over a store that counts its statements, with a superuser.
struct Mercado<E: Executor> {
    log: StatementLog,
    dialect: mercado_sql::Dialect,
    commands: Commands<Store<E>>,
    queries: Queries<Store<E>>,
    admin: Actor,
}

impl<E: Executor> Mercado<E> {
    /// Wires the services as the server does (`startup::state`), over `exec` counted.
    async fn new(exec: E) -> Self {
        let exec = Counting::new(exec);
        let (log, dialect) = (exec.log().clone(), exec.dialect());
        let hasher = PasswordHasher::new(1_000, 2).expect("valid hashing settings");
        let (commands, queries) = services(
            SqlStore::new(exec),
            hasher,
            Arc::new(SystemClock),
            ServiceConfig::default(),
        );
        let admin = sign_up(&commands, true).await;
        Self {
            log,
            dialect,
            commands,
            queries,
            admin,
        }
    }

    /// Runs `op` and returns its result with the statements it sent.
    async fn measure<T>(&self, what: &str, op: impl Future<Output = T>) -> (T, Tally) {
        let _ = self.log.take();
        let value = op.await;
        let tally = self.log.take();
        eprintln!("statements [{:?}] {what}: {}", self.dialect, tally.count());
        (value, tally)
    }

    /// Signs up a user.
    async fn user(&self, is_superuser: bool) -> Actor {
        sign_up(&self.commands, is_superuser).await
    }

    /// Creates `n` products named `<name> <no>` with `stock` units each.
    async fn products(&self, n: usize, name: &str, stock: i64) -> Vec<ProductId> {
        let mut ids = Vec::with_capacity(n);
        for no in 0..n {
            let new = NewProduct {
                name: ProductName::parse(&format!("{name} {no:02}")).unwrap(),
                description: None,
                price: Price::parse("2.50").unwrap(),
                stock: Stock::new(stock).unwrap(),
            };
            let product = self.commands.create_product(self.admin, new, None).await;
            ids.push(product.expect("product created").id);
        }
        ids
    }

    /// Places an order for `actor` of one unit of each product, through the service.
    async fn order(&self, actor: Actor, products: &[ProductId]) -> Order {
        self.commands
            .place_order(actor, lines(products), None)
            .await
            .expect("order placed")
    }
}

/// One unit of each product.
/// A new user's actor: signed up, or made a superuser as the server's first one is.
async fn sign_up<S: mercado_core::ports::Store>(
    commands: &mercado_core::service::Commands<S>,
    superuser: bool,
) -> Actor {
    let (email, password) = (unique_email(), unique_password());
    let (parsed, secret) = (
        Email::parse(&email).unwrap(),
        Password::parse(&password).unwrap(),
    );
    if superuser {
        assert!(commands.ensure_superuser(parsed, secret).await.unwrap());
        commands.log_in(&email, &password).await.unwrap().actor()
    } else {
        let new = NewUser {
            email: parsed,
            password: secret,
            full_name: None,
        };
        commands
            .sign_up(new, None)
            .await
            .expect("signed up")
            .actor()
    }
}

/// More units of `product` than the scarce products hold (10).
fn too_many(product_id: ProductId) -> OrderLines {
    let line = NewOrderLine {
        product_id,
        quantity: Quantity::new(1_000).unwrap(),
    };
    OrderLines::new(vec![line]).unwrap()
}

fn lines(products: &[ProductId]) -> OrderLines {
    let lines = products
        .iter()
        .map(|&product_id| NewOrderLine {
            product_id,
            quantity: Quantity::new(1).unwrap(),
        })
        .collect();
    OrderLines::new(lines).expect("1 to 50 distinct products")
}

fn page(limit: i64) -> Page {
    Page::new(limit, 0).unwrap()
}

/// Asserts that a small and a large instance of `what` sent as many statements, and at
/// most `bound`.
#[track_caller]
fn assert_bounded(what: &str, bound: usize, small: &Tally, large: &Tally) {
    assert_eq!(
        small.count(),
        large.count(),
        "{what}: the statement count grows with the rows\nsmall: {small}\nlarge: {large}"
    );
    assert!(
        large.count() <= bound,
        "{what}: more than {bound} statements\n{large}"
    );
}

// ---------------------------------------------------------------------------------------

async fn a_product_page_and_its_total_take_two_statements_whatever_the_page_holds(
    backend: Backend,
) {
    with_scratch_executor!(backend, product_pages);
}

async fn product_pages<E: Executor>(exec: E) {
    let m = Mercado::new(exec).await;
    m.products(30, "Green Tea", 100).await;
    m.products(5, "Coffee", 100).await;

    for (what, query, total) in [
        ("product page", ProductQuery::default(), 35),
        (
            "product page ?q=",
            ProductQuery {
                name_contains: Some(SearchText::parse("TEA").unwrap()),
            },
            30,
        ),
    ] {
        let (one, small) = m
            .measure(&format!("{what} of 1"), m.queries.products(&query, page(1)))
            .await;
        let (twenty, large) = m
            .measure(
                &format!("{what} of 20"),
                m.queries.products(&query, page(20)),
            )
            .await;
        let (one, twenty) = (one.unwrap(), twenty.unwrap());
        assert_eq!((one.items.len(), one.total), (1, total), "{what}");
        assert_eq!((twenty.items.len(), twenty.total), (20, total), "{what}");
        assert_bounded(what, PAGE_BOUND, &small, &large);
    }
}

// ---------------------------------------------------------------------------------------

async fn an_order_of_fifty_items_is_read_in_one_statement(backend: Backend) {
    with_scratch_executor!(backend, order_reads);
}

async fn order_reads<E: Executor>(exec: E) {
    let m = Mercado::new(exec).await;
    let customer = m.user(false).await;
    let products = m.products(OrderLines::MAX, "Tea", 100).await;
    let one = m.order(customer, &products[..1]).await;
    let fifty = m.order(customer, &products).await;

    let (read_one, small) = m
        .measure("order read, 1 item", m.queries.order(customer, one.id))
        .await;
    let (read_fifty, large) = m
        .measure("order read, 50 items", m.queries.order(customer, fifty.id))
        .await;
    assert_eq!(read_one.unwrap().lines.len(), 1);
    let read_fifty = read_fifty.unwrap();
    assert_eq!(read_fifty.lines, fifty.lines, "every line, in order");
    assert_bounded("order read", 1, &small, &large);
}

// ---------------------------------------------------------------------------------------

async fn an_order_page_takes_two_statements_whatever_its_orders_and_items(backend: Backend) {
    with_scratch_executor!(backend, order_pages);
}

async fn order_pages<E: Executor>(exec: E) {
    let m = Mercado::new(exec).await;
    let (customer, other) = (m.user(false).await, m.user(false).await);
    let products = m.products(5, "Tea", 1_000).await;
    // The other customer's two orders are the oldest, so the newest ten are the
    // customer's, five lines each.
    for _ in 0..2 {
        m.order(other, &products[..1]).await;
    }
    for _ in 0..10 {
        m.order(customer, &products).await;
    }

    let listings = [
        ("order page (superuser, everyone's)", m.admin, None, 12),
        (
            "order page (superuser, one user's)",
            m.admin,
            Some(customer.user_id()),
            10,
        ),
        ("order page (own)", customer, None, 10),
    ];
    for (what, actor, only, total) in listings {
        let (one, small) = m
            .measure(
                &format!("{what} of 1"),
                m.queries.orders(actor, only, page(1)),
            )
            .await;
        let (ten, large) = m
            .measure(
                &format!("{what} of 10"),
                m.queries.orders(actor, only, page(10)),
            )
            .await;
        let (one, ten) = (one.unwrap(), ten.unwrap());
        assert_eq!((one.items.len(), one.total), (1, total), "{what}");
        assert_eq!((ten.items.len(), ten.total), (10, total), "{what}");
        assert!(
            ten.items.iter().all(|o| o.lines.len() == 5),
            "{what}: every order with its five lines"
        );
        assert_bounded(what, PAGE_BOUND, &small, &large);
    }
}

// ---------------------------------------------------------------------------------------

async fn a_user_page_and_its_total_take_two_statements_whatever_the_page_holds(backend: Backend) {
    with_scratch_executor!(backend, user_pages);
}

async fn user_pages<E: Executor>(exec: E) {
    let m = Mercado::new(exec).await;
    for _ in 0..11 {
        m.user(false).await;
    }
    let (one, small) = m
        .measure("user page of 1", m.queries.users(m.admin, page(1)))
        .await;
    let (ten, large) = m
        .measure("user page of 10", m.queries.users(m.admin, page(10)))
        .await;
    let (one, ten) = (one.unwrap(), ten.unwrap());
    assert_eq!((one.items.len(), one.total), (1, 12));
    assert_eq!((ten.items.len(), ten.total), (10, 12));
    assert_bounded("user page", PAGE_BOUND, &small, &large);
}

// ---------------------------------------------------------------------------------------

async fn placing_an_order_costs_a_fixed_few_statements_plus_one_stock_update_per_line(
    backend: Backend,
) {
    with_scratch_executor!(backend, order_placing);
}

/// `UPDATE products …`: the stock taken (placing) or given back (cancelling), per line.
const STOCK_UPDATE: &str = "UPDATE products";
/// `INSERT INTO outbox …`: one event.
const EVENT_INSERT: &str = "INSERT INTO outbox";

/// Asserts `tally` is one committed transaction, every statement inside it.
#[track_caller]
fn assert_one_transaction(what: &str, tally: &Tally) {
    assert_eq!(
        (tally.transactions, tally.commits),
        (1, 1),
        "{what}\n{tally}"
    );
    assert!(
        tally.statements.iter().all(|s| s.in_transaction),
        "{what}: a statement outside the transaction\n{tally}"
    );
}

/// The statements besides one stock update per line and one insert per event.
fn fixed_part(tally: &Tally) -> usize {
    tally.count() - tally.starting_with(STOCK_UPDATE) - tally.starting_with(EVENT_INSERT)
}

async fn order_placing<E: Executor>(exec: E) {
    let m = Mercado::new(exec).await;
    let customer = m.user(false).await;
    // Plenty of stock: no line crosses the low-stock threshold (10), one event per order.
    let plenty = m.products(OrderLines::MAX, "Tea", 1_000).await;
    // Ten units: each line crosses the threshold, one `ProductStockLow` event per line.
    let scarce = m.products(OrderLines::MAX, "Rare tea", 10).await;

    let (_, one) = m
        .measure("place order, 1 item", m.order(customer, &plenty[..1]))
        .await;
    let (_, fifty) = m
        .measure("place order, 50 items", m.order(customer, &plenty))
        .await;
    let (_, low) = m
        .measure(
            "place order, 50 items, each low on stock",
            m.order(customer, &scarce),
        )
        .await;

    for (what, tally, lines, events) in [
        ("1 item", &one, 1, 1),
        ("50 items", &fifty, 50, 1),
        ("50 items low on stock", &low, 50, 51),
    ] {
        assert_one_transaction(what, tally);
        assert_eq!(
            (
                tally.starting_with(STOCK_UPDATE),
                tally.starting_with(EVENT_INSERT)
            ),
            (lines, events),
            "{what}: one stock update per line, one insert per event\n{tally}"
        );
        // Locking read, order, its lines (one multi-row insert): the same for any size.
        assert_eq!(
            fixed_part(tally),
            fixed_part(&one),
            "{what}: a statement besides the stock updates and events grows with the lines\n{tally}"
        );
    }
    assert_eq!(fixed_part(&one), 3, "{one}");

    // A refused order ends its transaction at once: its row locks do not outlive the
    // answer (a dropped transaction rolls back only when its connection is next used).
    let (refused, tally) = m
        .measure(
            "place order, refused for stock",
            m.commands.place_order(customer, too_many(scarce[0]), None),
        )
        .await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(
        (tally.transactions, tally.commits, tally.rollbacks),
        (1, 0, 1),
        "{tally}"
    );
}

// ---------------------------------------------------------------------------------------

async fn cancelling_an_order_costs_a_fixed_few_statements_plus_one_stock_update_per_line(
    backend: Backend,
) {
    with_scratch_executor!(backend, order_cancelling);
}

async fn order_cancelling<E: Executor>(exec: E) {
    let m = Mercado::new(exec).await;
    let customer = m.user(false).await;
    let products = m.products(OrderLines::MAX, "Tea", 1_000).await;
    let one = m.order(customer, &products[..1]).await;
    let fifty = m.order(customer, &products).await;

    let (cancelled, small) = m
        .measure(
            "cancel order, 1 item",
            m.commands.cancel_order(customer, one.id),
        )
        .await;
    cancelled.expect("cancelled");
    let (cancelled, large) = m
        .measure(
            "cancel order, 50 items",
            m.commands.cancel_order(customer, fifty.id),
        )
        .await;
    cancelled.expect("cancelled");

    for (what, tally, lines) in [("1 item", &small, 1), ("50 items", &large, 50)] {
        assert_eq!(
            (tally.transactions, tally.commits),
            (1, 1),
            "{what}\n{tally}"
        );
        assert_eq!(
            (
                tally.starting_with(STOCK_UPDATE),
                tally.starting_with(EVENT_INSERT)
            ),
            (lines, 1),
            "{what}: one stock update per line, one event\n{tally}"
        );
        // The access check's read, then in the transaction: the conditional update, the
        // order re-read with its lines.
        assert_eq!(fixed_part(tally), 3, "{what}\n{tally}");
    }
}

// ---------------------------------------------------------------------------------------

async fn resolving_a_tokens_actor_costs_the_same_whatever_the_tables_hold(backend: Backend) {
    with_scratch_executor!(backend, actor_resolving);
}

async fn actor_resolving<E: Executor>(exec: E) {
    let m = Mercado::new(exec).await;
    let customer = m.user(false).await;
    let token = TokenId::generate();
    let expires = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let me = m
        .queries
        .user(customer, customer.user_id())
        .await
        .expect("the user");
    let session = m
        .commands
        .open_session(me.clone(), None)
        .await
        .expect("a session")
        .session;

    let resolve = |session| m.queries.resolve_actor(customer.user_id(), token, session);
    let (user, small) = m
        .measure("resolve actor (2 users, 1 session)", resolve(Some(session)))
        .await;
    assert_eq!(user.expect("resolved").id, customer.user_id());
    let (user, small_legacy) = m
        .measure(
            "resolve actor without a session (no revoked tokens)",
            resolve(None),
        )
        .await;
    assert_eq!(user.expect("resolved").id, customer.user_id());

    for _ in 0..10 {
        let other = m.user(false).await;
        let other = m
            .queries
            .user(other, other.user_id())
            .await
            .expect("the user");
        m.commands
            .open_session(other, None)
            .await
            .expect("a session");
        m.commands
            .open_session(me.clone(), None)
            .await
            .expect("a session");
        m.commands
            .log_out(customer, TokenId::generate(), None, expires)
            .await
            .expect("revoked");
    }
    let (user, large) = m
        .measure(
            "resolve actor (12 users, 21 sessions)",
            resolve(Some(session)),
        )
        .await;
    assert_eq!(user.expect("resolved").id, customer.user_id());
    // The user, if their session is live (by key).
    assert_bounded("resolve actor", 1, &small, &large);
    let (user, large_legacy) = m
        .measure(
            "resolve actor without a session (10 revoked tokens)",
            resolve(None),
        )
        .await;
    assert_eq!(user.expect("resolved").id, customer.user_id());
    // Is the token revoked? Who is the user? (Both by key.)
    assert_bounded(
        "resolve actor without a session",
        2,
        &small_legacy,
        &large_legacy,
    );

    m.commands
        .log_out(customer, token, Some(session), expires)
        .await
        .expect("ended");
    let (refused, ended) = m
        .measure("resolve actor (ended session)", resolve(Some(session)))
        .await;
    assert!(refused.is_err(), "an ended session resolves no actor");
    assert!(ended.count() <= large.count(), "{ended}");
    m.commands
        .log_out(customer, token, None, expires)
        .await
        .expect("revoked");
    let (refused, revoked) = m
        .measure("resolve actor (revoked token)", resolve(None))
        .await;
    assert!(refused.is_err(), "a revoked token resolves no actor");
    assert!(revoked.count() <= large_legacy.count(), "{revoked}");
}

// ---------------------------------------------------------------------------------------

async fn a_recovery_request_sends_the_same_statements_for_any_address(backend: Backend) {
    with_scratch_executor!(backend, recovery_statements);
}

/// What the server does for a recovery request cannot depend on whether the address has
/// an account: the same statements, in the same order, in the same transactions.
async fn recovery_statements<E: Executor>(exec: E) {
    let m = Mercado::new(exec).await;
    let known = m
        .queries
        .user(m.admin, m.admin.user_id())
        .await
        .expect("the admin")
        .email;
    let unknown = Email::parse(&unique_email()).unwrap();
    // First requests for each (a new throttle row), then second ones (an update).
    for round in ["first", "second"] {
        let (done, for_known) = m
            .measure(
                &format!("{round} recovery request, known address"),
                m.commands.request_password_recovery(&known),
            )
            .await;
        done.expect("accepted");
        let (done, for_unknown) = m
            .measure(
                &format!("{round} recovery request, unknown address"),
                m.commands.request_password_recovery(&unknown),
            )
            .await;
        done.expect("accepted");
        assert_eq!(
            for_known, for_unknown,
            "{round}: known\n{for_known}\nunknown\n{for_unknown}"
        );
        // Count (a new address: open its window, forget passed ones), then the event.
        assert!(for_known.count() <= 4, "{for_known}");
    }
}

// ---------------------------------------------------------------------------------------

/// (No password hash either: `Commands::refresh` never reaches the hasher; a token's
/// keyed hash costs microseconds, see `cargo bench -p mercado-server --bench tokens`.)
async fn a_refresh_costs_a_fixed_few_statements_and_no_password_hash(backend: Backend) {
    with_scratch_executor!(backend, refresh_statements);
}

async fn refresh_statements<E: Executor>(exec: E) {
    let m = Mercado::new(exec).await;
    let me = m
        .queries
        .user(m.admin, m.admin.user_id())
        .await
        .expect("the admin");
    let mut grant = m
        .commands
        .open_session(me.clone(), None)
        .await
        .expect("a session");
    let mut tallies = Vec::new();
    for round in 0..12 {
        // More sessions and spent tokens each round: the cost must not grow with them.
        m.commands
            .open_session(me.clone(), None)
            .await
            .expect("a session");
        let token = grant.refresh_token.expose().to_owned();
        let (next, tally) = m
            .measure(&format!("refresh {round}"), m.commands.refresh(&token))
            .await;
        grant = next.expect("rotated");
        tallies.push(tally);
    }
    // Spend, read the spent row, add the next token, touch the session, read its user.
    assert_bounded("refresh", 5, &tallies[0], &tallies[11]);
    assert_eq!(tallies[11].transactions, 1, "{}", tallies[11]);
}
