//! svc-messaging's job queue on Postgres, with two worker processes and the `log` provider
//! (a send that does nothing but log the job id):
//!
//! - burst: `jobs` SMS jobs (default 100,000) due at the same instant, across 100 workspaces;
//!   prints jobs/s once due, the lag due → sent (p50/p99/max), and checks from the two
//!   processes' logs that every job was sent exactly once;
//! - steady: `rate` jobs/s (default 1,000) for `secs` seconds (default 30), each due when
//!   queued; prints the lag p50/p99/max.
//!
//! Jobs are queued as svc-messaging queues them (a row, then `NOTIFY` on its wake channel),
//! by SQL, so the figures are the queue's and not the REST path's. Each send still checks its
//! contact (opt-outs) with svc-pipeline, which runs beside them with one contact per
//! workspace. The channel limit is raised (`CRM_MESSAGING__SMS_PER_SECOND`) so that it does
//! not bind: the channel-limit tests cover it.
//!
//! ```sh
//! cargo build --release -p svc-messaging -p svc-pipeline -p crm-bench
//! cargo run --release -p crm-bench --bin message_queue -- [jobs] [rate] [secs]
//! ```

use anyhow::{Context, bail};
use crm_bench::cpu_time;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::{Child, Command},
    time::{Duration, Instant},
};

const SERVICE_SECRET: &str = "bench-service-secret-0123456789abcdef";
const WAKE: &str = "message_jobs";
const WORKSPACES: usize = 100;

/// A fresh Postgres database; its URL.
async fn database() -> anyhow::Result<String> {
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let admin = sea_orm::Database::connect(&base).await?;
    let name = format!("crm_bench_queue_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await?;
    Ok(format!("postgres://postgres@127.0.0.1:5432/{name}"))
}

/// Starts the release binary `name` on `port`, logging to `log`.
fn start(name: &str, port: u16, env: &[(&str, &str)], log: &Path) -> anyhow::Result<Child> {
    let exe = std::env::current_exe()?;
    let bin = exe.parent().context("exe dir")?.join(name);
    if !bin.exists() {
        bail!(
            "{} is missing: build it first (cargo build --release -p {name})",
            bin.display()
        );
    }
    let out = std::fs::File::create(log)?;
    Ok(Command::new(bin)
        .env("CRM_LISTEN", format!("127.0.0.1:{port}"))
        .env("CRM_SERVICE_SECRET", SERVICE_SECRET)
        .env("RUST_LOG", "svc_messaging::domain::providers=info,warn")
        .envs(env.iter().copied())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()?)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Waits until a process has migrated `schema` (its `table` has `column`).
async fn wait_for_schema(
    db: &DatabaseConnection,
    schema: &str,
    table: &str,
    column: &str,
) -> anyhow::Result<()> {
    for _ in 0..300 {
        let found = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                format!(
                    "SELECT 1 FROM information_schema.columns WHERE table_schema = '{schema}' \
                     AND table_name = '{table}' AND column_name = '{column}'"
                ),
            ))
            .await?;
        if found.is_some() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the {schema} schema was not migrated within 30 s")
}

/// One contact per workspace in svc-pipeline's tables; workspace `n`'s is `contact_id(n)`.
async fn seed_contacts(db: &DatabaseConnection) -> anyhow::Result<()> {
    db.execute_unprepared(&format!(
        "INSERT INTO pipeline.contacts (id, workspace_id, firstname, lastname, phone_number, \
         created_at, updated_at) SELECT {contact}, {workspace}, 'Ann', 'Lee', \
         '+1555555' || lpad(g::text, 4, '0'), now(), now() FROM generate_series(0, {last}) AS g",
        contact = sql_id("c", "g"),
        workspace = sql_id("w", "g"),
        last = WORKSPACES - 1
    ))
    .await?;
    Ok(())
}

/// A UUID-shaped id for number `n` (an SQL expression) of kind `kind` ("w" or "c").
fn sql_id(kind: &str, n: &str) -> String {
    let prefix = if kind == "w" { "00000000" } else { "11111111" };
    format!("'{prefix}-0000-4000-8000-' || lpad(({n})::text, 12, '0')")
}

/// Queues `n` jobs due at `due` (SQL seconds expression), spread over the workspaces, and
/// wakes the workers, as one statement and a NOTIFY.
async fn queue(db: &DatabaseConnection, n: usize, due: &str, tag: &str) -> anyhow::Result<()> {
    db.execute_unprepared(&format!(
        "INSERT INTO messaging.message_jobs (id, workspace_id, channel, contact_id, recipient, \
         subject, body, metadata, status, attempts, due_at, next_attempt_at, created_at) \
         SELECT gen_random_uuid()::text, {workspace}, 'sms', {contact}, '+15555550100', NULL, \
         'bench {tag}', '{{}}', 'pending', 0, {due}, {due}, now() \
         FROM generate_series(1, {n}) AS g; NOTIFY {WAKE}",
        workspace = sql_id("w", &format!("g % {WORKSPACES}")),
        contact = sql_id("c", &format!("g % {WORKSPACES}")),
    ))
    .await?;
    Ok(())
}

/// Waits until no job tagged `tag` is unsent; false after `limit`.
async fn drained(db: &DatabaseConnection, tag: &str, limit: Duration) -> anyhow::Result<bool> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                format!(
                    "SELECT count(*) FROM messaging.message_jobs WHERE body = 'bench {tag}' \
                     AND status <> 'sent'"
                ),
            ))
            .await?
            .context("count")?;
        if row.try_get_by_index::<i64>(0)? == 0 {
            return Ok(true);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(false)
}

/// Lag due → sent of the jobs tagged `tag`: (count, p50, p99, max) in ms, and seconds from
/// the first due time to the last send.
async fn lag(db: &DatabaseConnection, tag: &str) -> anyhow::Result<(i64, f64, f64, f64, f64)> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT count(*), \
                 percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - due_at)::float8) * 1000, \
                 percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - due_at)::float8) * 1000, \
                 max(extract(epoch FROM sent_at - due_at))::float8 * 1000, \
                 extract(epoch FROM max(sent_at) - min(due_at))::float8 \
                 FROM messaging.message_jobs WHERE body = 'bench {tag}'"
            ),
        ))
        .await?
        .context("lag")?;
    Ok((
        row.try_get_by_index(0)?,
        row.try_get_by_index(1)?,
        row.try_get_by_index(2)?,
        row.try_get_by_index(3)?,
        row.try_get_by_index(4)?,
    ))
}

/// How many times the logs show each job sent.
fn sends(logs: &[PathBuf]) -> anyhow::Result<HashMap<String, u32>> {
    let mut seen = HashMap::new();
    for log in logs {
        for line in std::fs::read_to_string(log)?.lines() {
            if !line.contains("message sent (log provider)") {
                continue;
            }
            let Some(at) = line.find("job_id") else {
                continue;
            };
            let id: String = line[at + 6..]
                .trim_start_matches(['=', '"', ':', ' '])
                .chars()
                .take(36)
                .collect();
            *seen.entry(id).or_insert(0) += 1;
        }
    }
    Ok(seen)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let jobs: usize = args.get(1).map_or(Ok(100_000), |s| s.parse())?;
    let rate: usize = args.get(2).map_or(Ok(1_000), |s| s.parse())?;
    let secs: usize = args.get(3).map_or(Ok(30), |s| s.parse())?;

    let url = database().await?;
    let dir = std::env::temp_dir().join(format!("crm-bench-queue-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let db = sea_orm::Database::connect(&url).await?;
    let pipeline_port = free_port()?;
    let pipeline_url = format!("http://127.0.0.1:{pipeline_port}");
    let mut pipeline = start(
        "svc-pipeline",
        pipeline_port,
        &[("DATABASE_URL", &url)],
        &dir.join("pipeline.log"),
    )?;
    wait_for_schema(&db, "pipeline", "contacts", "assigned_to").await?;
    seed_contacts(&db).await?;
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("CRM_PIPELINE_URL", pipeline_url.as_str()),
        ("CRM_AUTH_URL", ""),
        ("CRM_MESSAGING__SMS_PER_SECOND", "1000000"),
    ];
    let logs = [dir.join("a.log"), dir.join("b.log")];
    let mut children = vec![start("svc-messaging", free_port()?, &env, &logs[0])?];
    wait_for_schema(&db, "messaging", "message_jobs", "delivered_at").await?;
    children.push(start("svc-messaging", free_port()?, &env, &logs[1])?);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu = |children: &[Child]| children.iter().map(|c| cpu_time(c.id())).sum::<Duration>();
    let pipeline_cpu_before = cpu_time(pipeline.id());

    // Burst: all due 3 s from now, so queuing them is not part of the measure.
    queue(&db, jobs, "now() + interval '3 seconds'", "burst").await?;
    let cpu_before = cpu(&children);
    let ok = drained(&db, "burst", Duration::from_secs(600)).await?;
    let cpu_used = cpu(&children) - cpu_before;
    let pipeline_used = cpu_time(pipeline.id()) - pipeline_cpu_before;
    let (n, p50, p99, max, span) = lag(&db, "burst").await?;
    let per_job = |d: Duration| d.as_micros() as f64 / n.max(1) as f64;
    println!(
        "burst: {n} jobs, all sent: {ok}; {:.0} jobs/s once due; lag p50 {p50:.0} ms, p99 {p99:.0} ms, max {max:.0} ms; CPU per job {:.0} µs svc-messaging (both) + {:.0} µs svc-pipeline (contact checks)",
        n as f64 / span,
        per_job(cpu_used),
        per_job(pipeline_used)
    );

    // Steady: `rate` jobs per second, in ten batches a second, each due when queued.
    let started = Instant::now();
    let batch = (rate / 10).max(1);
    for b in 0..secs * 10 {
        tokio::time::sleep_until((started + Duration::from_millis(100 * b as u64)).into()).await;
        queue(&db, batch, "clock_timestamp()", "steady").await?;
    }
    let ok_steady = drained(&db, "steady", Duration::from_secs(120)).await?;
    let (n, p50, p99, max, _) = lag(&db, "steady").await?;
    println!(
        "steady: {n} jobs at {rate}/s, all sent: {ok_steady}; lag p50 {p50:.0} ms, p99 {p99:.0} ms, max {max:.0} ms"
    );

    for child in children.iter_mut().chain([&mut pipeline]) {
        child.kill().ok();
        child.wait().ok();
    }
    let seen = sends(&logs)?;
    let twice = seen.values().filter(|&&c| c > 1).count();
    let warnings = logs
        .iter()
        .map(|l| std::fs::read_to_string(l).map(|t| t.matches("WARN").count()))
        .sum::<Result<usize, _>>()?;
    println!(
        "exactly once: {} jobs in the providers' logs, {twice} sent more than once; {warnings} warnings in the logs ({})",
        seen.len(),
        dir.display()
    );
    Ok(())
}
