//! Cost of storing the request log on SQLite, per row, apart from HTTP: what svc-auth does
//! with a gateway's `RecordRequestLogs` batch once it has arrived (protobuf decode,
//! `log_batch::batch_of`, `domain::request_log::chunks_of`, which sorts it by key and time
//! and encodes one chunk per key, then `store::request_log::insert_chunks` on the bulk
//! writer's connection, with the server's settings and schema), batches of calls spread over
//! many keys in turn, as in `partner_rps`' many-keys run. Prints the process' CPU time per
//! row (logged request) for those steps (user and system: the insert runs on sqlx's SQLite thread) over all
//! batches but the first two, and the database's size.
//!
//! On a noisy machine the steadier figure is instructions, counted by callgrind over two
//! runs that differ only in their batch count: `valgrind --tool=callgrind log_insert 1000 4`
//! and `... 1000 8`; the difference of the totals divided by 60 000 rows is the figure. It
//! includes encoding the batches (as the gateway would; not timed in the CPU figure), and not
//! the kernel's part of writing the pages (callgrind counts user space only).
//!
//! `cargo run --release -p crm-bench --bin log_insert -- [keys] [batches] [rows per batch] [columns|messages]`
//! (defaults 1 000 keys, 12 batches, 15 000 rows: the gateway's batch size; the batch in
//! columns, as gateways send it). With `messages` the batch is one message per call, the
//! form of gateways before columns.

use crm_bench::cpu_time;
use crm_proto::auth as pb;
use prost::Message;
use sea_orm_migration::MigratorTrait;
use svc_auth::{
    domain::{request_log::chunks_of, request_log_read},
    log_batch::batch_of,
    store::request_log::{LogFilter, insert_chunks},
};

// The allocator the servers use, so allocation costs what it costs there.
#[global_allocator]
static ALLOCATOR: crm_platform::Allocator = crm_platform::Allocator {};

/// Batches measured after this many have filled the caches and the file.
const WARM_UP: usize = 2;

/// The calls `first..first + count` of the run, calls 100 µs apart and keys in turn, as a
/// gateway encodes them: in columns, or (`messages`) one message per call.
fn encoded(first: u64, count: u64, keys: &[String], workspace: &str, messages: bool) -> Vec<u8> {
    const AGENT: &str = "partner-sdk/1.4 (+https://example.com)";
    let start_ms = 1_764_590_000_000i64;
    let calls = first..first + count;
    let key = |n: u64| n as usize % keys.len();
    let at_ms = |n: u64| start_ms + n as i64 / 10;
    let request = if messages {
        pb::RecordRequestLogsRequest {
            logs: calls
                .map(|n| pb::RequestLog {
                    workspace_id: workspace.to_owned(),
                    api_key_id: keys[key(n)].clone(),
                    method: "GET".to_owned(),
                    endpoint: "/api/auth/me".to_owned(),
                    status_code: 200,
                    response_time_ms: 1,
                    request_ip: "127.0.0.1".to_owned(),
                    user_agent: AGENT.to_owned(),
                    response_size: 412,
                    timestamp: Some(prost_types::Timestamp {
                        seconds: at_ms(n).div_euclid(1000),
                        nanos: (at_ms(n).rem_euclid(1000) * 1_000_000) as i32,
                    }),
                    ..Default::default()
                })
                .collect(),
            columns: None,
        }
    } else {
        // Texts: the keys, then the workspace and the fields every call shares.
        let mut texts = keys.to_vec();
        let shared = keys.len() as u32;
        texts.extend([workspace, "GET", "/api/auth/me", "127.0.0.1", AGENT, ""].map(String::from));
        let same = |i: u32| vec![shared + i; count as usize];
        pb::RecordRequestLogsRequest {
            logs: Vec::new(),
            columns: Some(pb::RequestLogColumns {
                texts,
                workspace_id: same(0),
                api_key_id: calls.clone().map(|n| key(n) as u32).collect(),
                method: same(1),
                endpoint: same(2),
                request_ip: same(3),
                user_agent: same(4),
                request_id: same(5),
                status_code: vec![200; count as usize],
                response_time_ms: vec![1; count as usize],
                request_size: vec![0; count as usize],
                response_size: vec![412; count as usize],
                timestamp_ms: calls.map(at_ms).collect(),
            }),
        }
    };
    request.encode_to_vec()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, default: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (key_count, batches, per_batch) = (arg(1, 1000).max(1), arg(2, 12), arg(3, 15_000));
    let messages = args.get(4).is_some_and(|a| a == "messages");
    let dir = std::env::temp_dir().join(format!("crm-log-insert-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let url = crm_platform::db::service_url(None, &dir, "auth");
    let db = crm_platform::db::connect_bulk_writer(&url, "auth")
        .await?
        .expect("a SQLite URL gets a bulk writer");
    svc_auth::migration::Migrator::up(&db, None).await?;

    let keys: Vec<String> = (0..key_count)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    let workspace = uuid::Uuid::new_v4().to_string();
    let pid = std::process::id();
    let (mut n, mut rows, mut cpu) = (0u64, 0u64, std::time::Duration::ZERO);
    for batch in 0..batches as usize {
        let bytes = encoded(n, per_batch, &keys, &workspace, messages);
        n += per_batch;
        let before = cpu_time(pid);
        let request = pb::RecordRequestLogsRequest::decode(&bytes[..])?;
        let batch_in = batch_of(request).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        insert_chunks(&db, chunks_of(batch_in)).await?;
        if batch >= WARM_UP {
            cpu += cpu_time(pid).saturating_sub(before);
            rows += per_batch;
        }
    }
    let reads = read_one_key(&db, &workspace, &keys[0]).await?;
    let size: u64 = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    println!(
        "{key_count} keys, {batches} batches of {per_batch} rows ({WARM_UP} not measured), {}: \
         {:.2} µs of CPU per row; database and WAL {} MiB",
        if messages {
            "one message per call"
        } else {
            "in columns"
        },
        cpu.as_secs_f64() * 1e6 / rows.max(1) as f64,
        size >> 20,
    );
    println!("{reads}");
    db.close().await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// What reading the first key's log costs once stored: the newest page of 20 and the usage
/// sums by hour, each over all its entries, wall time.
async fn read_one_key(
    db: &sea_orm::DatabaseConnection,
    workspace: &str,
    key: &str,
) -> anyhow::Result<String> {
    let filter = LogFilter {
        api_key_ids: vec![key.to_owned()],
        ..LogFilter::default()
    };
    let start = std::time::Instant::now();
    let (_, total) = request_log_read::page(db, workspace, &filter, 1, 20)
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let page = start.elapsed();
    let start = std::time::Instant::now();
    let sums = request_log_read::sums(db, workspace, &filter, 3_600_000)
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let usage = start.elapsed();
    anyhow::ensure!(
        sums.total == total,
        "the page and the sums saw the same entries"
    );
    Ok(format!(
        "one key's {total} entries: newest page of 20 in {:.1} ms, usage sums in {:.1} ms",
        page.as_secs_f64() * 1e3,
        usage.as_secs_f64() * 1e3
    ))
}
