//! Cost of storing the request log on SQLite, per row, apart from HTTP and gRPC: what
//! svc-auth does with a gateway's batch once decoded (`domain::request_log::rows_of`, which
//! puts it in the per-key index's order and makes the rows, then
//! `store::request_log::insert_batch` on the bulk writer's connection, with the server's
//! settings and schema), batches of calls spread over many keys in turn, as in
//! `partner_rps`' many-keys run. Prints the process' CPU time per row for those two steps
//! (user and system: the insert runs on sqlx's SQLite thread) over all batches but the first
//! two, and the database's size.
//!
//! On a noisy machine the steadier figure is instructions, counted by callgrind over two
//! runs that differ only in their batch count: `valgrind --tool=callgrind log_insert 1000 4`
//! and `... 1000 8`; the difference of the totals divided by 60 000 rows is the figure. It
//! includes making the calls themselves (a few strings each), and not the kernel's part of
//! writing the pages (callgrind counts user space only).
//!
//! `cargo run --release -p crm-bench --bin log_insert -- [keys] [batches] [rows per batch] [migrations]`
//! (defaults 1 000 keys, 12 batches, 15 000 rows: the gateway's batch size; all migrations).
//! With `migrations` the schema is svc-auth's as of that migration (`6`: before `m0007`
//! dropped SQLite's index on ids), to compare schemas in one sitting.

use chrono::{DateTime, Duration, Utc};
use crm_bench::cpu_time;
use sea_orm_migration::MigratorTrait;
use svc_auth::{
    domain::request_log::{NewLog, rows_of},
    store::request_log::insert_batch,
};

// The allocator the servers use, so allocation costs what it costs there.
#[global_allocator]
static ALLOCATOR: crm_platform::Allocator = crm_platform::Allocator {};

/// Batches measured after this many have filled the caches and the file.
const WARM_UP: usize = 2;

/// Call `n` of the run, as a gateway reports it: calls 100 µs apart, keys in turn.
fn call(n: u64, keys: &[String], workspace: &str, start: DateTime<Utc>) -> NewLog {
    NewLog {
        workspace_id: workspace.to_owned(),
        api_key_id: keys[n as usize % keys.len()].clone(),
        method: "GET".to_owned(),
        endpoint: "/api/auth/me".to_owned(),
        status_code: 200,
        response_time_ms: 1,
        request_ip: "127.0.0.1".to_owned(),
        user_agent: "partner-sdk/1.4 (+https://example.com)".to_owned(),
        request_size: 0,
        response_size: 412,
        request_id: String::new(),
        timestamp: start + Duration::microseconds(n as i64 * 100),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, default: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (key_count, batches, per_batch) = (arg(1, 1000).max(1), arg(2, 12), arg(3, 15_000));
    let migrations = args.get(4).and_then(|a| a.parse().ok());
    let dir = std::env::temp_dir().join(format!("crm-log-insert-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let url = crm_platform::db::service_url(None, &dir, "auth");
    let db = crm_platform::db::connect_bulk_writer(&url, "auth")
        .await?
        .expect("a SQLite URL gets a bulk writer");
    svc_auth::migration::Migrator::up(&db, migrations).await?;

    let keys: Vec<String> = (0..key_count)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    let workspace = uuid::Uuid::new_v4().to_string();
    let start = Utc::now();
    let pid = std::process::id();
    let (mut n, mut rows, mut cpu) = (0u64, 0u64, std::time::Duration::ZERO);
    for batch in 0..batches as usize {
        let calls: Vec<NewLog> = (0..per_batch)
            .map(|i| call(n + i, &keys, &workspace, start))
            .collect();
        n += per_batch;
        let before = cpu_time(pid);
        insert_batch(&db, rows_of(calls)).await?;
        if batch >= WARM_UP {
            cpu += cpu_time(pid).saturating_sub(before);
            rows += per_batch;
        }
    }
    let size: u64 = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    println!(
        "{key_count} keys, {batches} batches of {per_batch} rows ({WARM_UP} not measured): \
         {:.2} µs of CPU per row; database and WAL {} MiB{}",
        cpu.as_secs_f64() * 1e6 / rows.max(1) as f64,
        size >> 20,
        migrations.map_or(String::new(), |m| format!(" (schema as of migration {m})"))
    );
    db.close().await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
