//! Statements larger than one TLS record (16 KiB) must not wait for the server's delayed ACK:
//! the database sockets have TCP_NODELAY (vendor/README.md). Runs on Postgres only
//! (`DATABASE_URL`); over TLS, which Debian's Postgres offers by default and sqlx prefers,
//! each round trip below took 40 ms without it.

use crm_platform::db;
use sea_orm::{ConnectionTrait, DatabaseBackend, Value};
use std::time::{Duration, Instant};

#[tokio::test]
async fn large_statements_do_not_wait_for_delayed_acks() {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!("skipped: DATABASE_URL is not set (the stall is Postgres' over TCP)");
        return;
    };
    if !db::is_postgres(&url) {
        eprintln!("skipped: DATABASE_URL is not Postgres");
        return;
    }
    let conn = db::connect(&url, "public").await.unwrap();
    // 40 KiB: three TLS records, written as separate pieces.
    let text = "x".repeat(40 * 1024);
    let round_trip = || {
        conn.query_one_raw(db::statement(
            DatabaseBackend::Postgres,
            "SELECT length($1) AS n",
            [Value::from(text.clone())],
        ))
    };
    round_trip().await.unwrap();
    let started = Instant::now();
    for _ in 0..20 {
        let row = round_trip().await.unwrap().unwrap();
        assert_eq!(row.try_get::<i32>("", "n").unwrap(), 40 * 1024);
    }
    let took = started.elapsed();
    // 20 × 40 ms = 800 ms when every round trip stalls; a few ms each otherwise.
    assert!(
        took < Duration::from_millis(500),
        "20 round trips of a 40 KiB statement took {took:?}"
    );
}
