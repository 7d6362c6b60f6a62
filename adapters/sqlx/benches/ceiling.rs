//! The database's own ceilings, through the thinnest layer Mercado has (its executor on
//! sqlx, no HTTP, no domain): primary-key selects, and bare `UPDATE … SET stock =
//! stock - 1`, both on random rows of a 1 000-row table, from `tasks` concurrent tasks.
//! `bench/load.sh` sets the server's rates beside these (and beside `pgbench -S` and
//! sysbench's `oltp_point_select`, which need no Mercado code at all).
//!
//! Run: `cargo bench -p mercado-sqlx --features postgres,mysql --bench ceiling --
//! <database-url> <select|update> [tasks=64] [seconds=10] [pool=16]`.
//! Prints one line: `<operations/s>`. The table is made and dropped here.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mercado_sql::{Dialect, Executor, Kind, Transaction, Value};

const ROWS: i64 = 1_000;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [url, mode, rest @ ..] = args.as_slice() else {
        panic!("usage: ceiling <database-url> <select|update> [tasks] [seconds] [pool]");
    };
    let number = |i: usize, default: u32| {
        rest.get(i)
            .map_or(default, |v| v.parse().expect("a number"))
    };
    let (tasks, seconds, pool) = (number(0, 64), number(1, 10), number(2, 16));
    let update = match mode.as_str() {
        "select" => false,
        "update" => true,
        other => panic!("mode is select or update, not {other}"),
    };
    let rate = if url.starts_with("sqlite:") {
        let exec = mercado_sqlx::sqlite::connect(url, pool)
            .await
            .expect("sqlite");
        run(exec, update, tasks, seconds).await
    } else if url.starts_with("postgres") {
        let exec = mercado_sqlx::postgres::connect(url, pool)
            .await
            .expect("postgres");
        run(exec, update, tasks, seconds).await
    } else {
        let exec = mercado_sqlx::mysql::connect(url, pool)
            .await
            .expect("mysql");
        run(exec, update, tasks, seconds).await
    };
    println!("{rate:.0}");
}

async fn run<E: Executor>(exec: E, update: bool, tasks: u32, seconds: u32) -> f64 {
    let table = "mercado_ceiling";
    exec.execute(&format!("DROP TABLE IF EXISTS {table}"), &[])
        .await
        .expect("drop");
    exec.execute(
        &format!("CREATE TABLE {table} (id BIGINT NOT NULL PRIMARY KEY, stock BIGINT NOT NULL)"),
        &[],
    )
    .await
    .expect("create");
    // PostgreSQL numbers its parameters; the others take `?`.
    let (p1, p2) = match exec.dialect() {
        Dialect::Postgres => ("$1", "$2"),
        _ => ("?", "?"),
    };
    let insert = format!("INSERT INTO {table} (id, stock) VALUES ({p1}, {p2})");
    let mut tx = exec.begin().await.expect("begin");
    for id in 1..=ROWS {
        tx.execute(&insert, &[Value::Int(id), Value::Int(1_000_000_000)])
            .await
            .expect("insert");
    }
    tx.commit().await.expect("commit");

    let sql = Arc::new(if update {
        format!("UPDATE {table} SET stock = stock - 1 WHERE id = {p1}")
    } else {
        format!("SELECT stock FROM {table} WHERE id = {p1}")
    });
    let (stop, done) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let started = Instant::now();
    let workers: Vec<_> = (0..tasks)
        .map(|t| {
            let (exec, sql, stop, done) = (
                exec.clone(),
                Arc::clone(&sql),
                Arc::clone(&stop),
                Arc::clone(&done),
            );
            tokio::spawn(async move {
                // xorshift: a cheap spread of ids, different per task.
                let mut x = u64::from(t) * 0x9E37_79B9_7F4A_7C15 + 1;
                while !stop.load(Ordering::Relaxed) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let id = Value::Int(i64::try_from(x % ROWS as u64).expect("small") + 1);
                    if update {
                        exec.execute(&sql, &[id]).await.expect("update");
                    } else {
                        exec.fetch(&sql, &[id], &[Kind::Int]).await.expect("select");
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(seconds.into())).await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.expect("a worker");
    }
    #[allow(clippy::cast_precision_loss)] // A count of statements, far below 2^52.
    let rate = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    exec.execute(&format!("DROP TABLE {table}"), &[])
        .await
        .expect("drop");
    rate
}
