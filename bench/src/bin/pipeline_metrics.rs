//! svc-metrics' full pipeline metrics over a large workspace on Postgres: 100,000
//! opportunities (with their stage history) inserted in bulk with SQL into svc-pipeline's
//! tables, then sequential `GetPipelineMetrics` calls straight to the release `svc-metrics`
//! binary over gRPC. Prints p50/p99 and CPU per request: svc-metrics' own (its /proc stat)
//! and the Postgres backends serving its connections (their /proc stat, found by database
//! name; parallel query is off for the bench database so no work hides in parallel workers).
//!
//! ```sh
//! cargo build --release -p svc-metrics -p crm-bench
//! cargo run --release -p crm-bench --bin pipeline_metrics -- [opportunities] [requests]
//! ```

use anyhow::{Context, bail};
use crm_bench::{
    SERVICE_SECRET, backends_cpu, backends_spent, cpu_time, fresh_database, start_svc_metrics,
    summarize,
};
use crm_platform::{Principal, PrincipalKind, Secret, principal::PrincipalVerifier};
use crm_proto::metrics::{
    GetMetricsOverviewRequest, GetPipelineMetricsRequest,
    metrics_service_client::MetricsServiceClient,
};
use sea_orm::ConnectionTrait;
use std::time::{Duration, Instant};
use tonic::transport::Channel;

const WORKSPACE: &str = "7d0c6a0e-2f1b-4c35-9a59-3f0a7e9b1c22";
const SALES: &str = "5b3f3f0e-0000-4000-8000-000000000001";
/// Sales' stages by position: Lead, Qualified, Proposal, Negotiation, Won, Lost.
const STAGES: [(&str, i32, &str, bool, bool); 6] = [
    (
        "Lead",
        10,
        "5b3f3f0e-0000-4000-8000-0000000000a1",
        false,
        false,
    ),
    (
        "Qualified",
        30,
        "5b3f3f0e-0000-4000-8000-0000000000a2",
        false,
        false,
    ),
    (
        "Proposal",
        60,
        "5b3f3f0e-0000-4000-8000-0000000000a3",
        false,
        false,
    ),
    (
        "Negotiation",
        80,
        "5b3f3f0e-0000-4000-8000-0000000000a4",
        false,
        false,
    ),
    (
        "Won",
        100,
        "5b3f3f0e-0000-4000-8000-0000000000a5",
        true,
        false,
    ),
    (
        "Lost",
        0,
        "5b3f3f0e-0000-4000-8000-0000000000a6",
        false,
        true,
    ),
];

/// The workspace: two pipelines, and `n` opportunities in Sales moved along its stages
/// (0 to 4 moves each, the fourth into Won or Lost), created over the last 300 days.
async fn seed(url: &str, n: u64) -> anyhow::Result<()> {
    let db = crm_platform::db::connect(url, "pipeline").await?;
    crm_platform::db::migrate::<svc_pipeline::migration::Migrator>(&db, "pipeline").await?;
    db.execute_unprepared(&format!(
        "INSERT INTO pipelines (id, workspace_id, name, description, is_default, is_active, \
           created_by, created_at, updated_at) VALUES \
         ('{SALES}', '{WORKSPACE}', 'Sales', NULL, TRUE, TRUE, 'bench', now() - interval '400 days', now()), \
         ('5b3f3f0e-0000-4000-8000-000000000002', '{WORKSPACE}', 'Projects', NULL, FALSE, TRUE, 'bench', now(), now())"
    ))
    .await?;
    for (i, (name, probability, id, won, lost)) in STAGES.iter().enumerate() {
        db.execute_unprepared(&format!(
            "INSERT INTO stages (id, workspace_id, pipeline_id, name, description, position, color, \
               default_probability, is_won_stage, is_lost_stage, created_by, created_at, updated_at) \
             VALUES ('{id}', '{WORKSPACE}', '{SALES}', '{name}', NULL, {}, '#3B82F6', {probability}, \
               {won}, {lost}, 'bench', now(), now())",
            i + 1
        ))
        .await?;
    }
    // moves = g % 5; the stage after the last move: position moves + 1, or Won/Lost by g % 2.
    let start = Instant::now();
    db.execute_unprepared(&format!(
        "CREATE TEMP TABLE plan AS \
         SELECT g, g % 5 AS moves, \
           CASE WHEN g % 5 = 4 THEN 5 + g % 2 ELSE g % 5 + 1 END AS final_position, \
           date_trunc('minute', now()) - (g % 300) * interval '1 day' - (g % 24) * interval '1 hour' AS created, \
           (1 + g % 7) * interval '1 day' AS pace \
         FROM generate_series(1, {n}) g; \
         INSERT INTO opportunities (id, workspace_id, pipeline_id, stage_id, title, amount_cents, \
           currency, probability, expected_close_date, created_by, is_closed, is_won, closed_at, \
           created_at, updated_at) \
         SELECT md5('o' || g)::uuid::text, '{WORKSPACE}', '{SALES}', s.id, 'Deal ' || g, \
           (g * 7919) % 10000000, CASE WHEN g % 10 = 0 THEN 'EUR' ELSE 'USD' END, \
           s.default_probability, current_date + (g % 120 - 20), 'bench', \
           s.is_won_stage OR s.is_lost_stage, \
           CASE WHEN s.is_won_stage THEN TRUE WHEN s.is_lost_stage THEN FALSE END, \
           CASE WHEN s.is_won_stage OR s.is_lost_stage THEN created + moves * pace END, \
           created, created \
         FROM plan JOIN stages s ON s.pipeline_id = '{SALES}' AND s.position = final_position; \
         INSERT INTO opportunity_history (id, workspace_id, opportunity_id, field_changed, \
           old_value, new_value, changed_by, changed_at) \
         SELECT md5('h' || g || '-' || i)::uuid::text, '{WORKSPACE}', md5('o' || g)::uuid::text, \
           'stage_id', a.id, b.id, 'bench', created + i * pace \
         FROM plan CROSS JOIN generate_series(1, 4) i \
         JOIN stages a ON a.pipeline_id = '{SALES}' AND a.position = i \
         JOIN stages b ON b.pipeline_id = '{SALES}' \
           AND b.position = CASE WHEN i = 4 THEN 5 + g % 2 ELSE i + 1 END \
         WHERE i <= moves;"
    ))
    .await?;
    // What autovacuum would have done to tables this size before anyone asked for metrics:
    // statistics, and the visibility map, without which every index-only read of the stage
    // moves goes back to the table (freshly loaded, none of its pages is known all-visible).
    // Apart from the load: VACUUM cannot run inside the implicit transaction of a
    // multi-statement string.
    db.execute_unprepared("VACUUM (ANALYZE) opportunities, opportunity_history, stages")
        .await?;
    let history: i64 = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT COUNT(*) AS n FROM opportunity_history",
        ))
        .await?
        .context("count")?
        .try_get("", "n")?;
    println!(
        "seeded {n} opportunities and {history} history rows in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn signed<T>(message: T) -> tonic::Request<T> {
    let mut principal = Principal::new(PrincipalKind::User, WORKSPACE, "bench-owner");
    principal.role = "owner".into();
    let mut request = tonic::Request::new(message);
    PrincipalVerifier::new(&Secret::new(SERVICE_SECRET))
        .sign_into(&principal, request.metadata_mut())
        .expect("signs");
    request
}

async fn measure<F, Fut>(name: &str, db_name: &str, pid: u32, requests: usize, call: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    for _ in 0..3 {
        call().await.expect("warm-up call");
    }
    let (cpu_before, pg_before) = (cpu_time(pid), backends_cpu(db_name));
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(requests);
    for _ in 0..requests {
        let t = Instant::now();
        call().await.expect("call");
        latencies.push(t.elapsed().as_micros() as u64);
    }
    let elapsed = started.elapsed();
    let service = cpu_time(pid).saturating_sub(cpu_before);
    let postgres = backends_spent(&pg_before, &backends_cpu(db_name));
    let s = summarize(latencies, elapsed);
    let per = |d: Duration| d.as_secs_f64() * 1000.0 / requests as f64;
    println!(
        "{name:<40} p50 {:>8.1} ms   p99 {:>8.1} ms   CPU/request: svc-metrics {:>6.2} ms, Postgres {:>8.1} ms   ({} requests)",
        s.p50_us as f64 / 1000.0,
        s.p99_us as f64 / 1000.0,
        per(service),
        per(postgres),
        s.count
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(100_000);
    let requests: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(30);
    let (url, db_name) = fresh_database("crm_bench_metrics").await?;
    seed(&url, n).await?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut child = start_svc_metrics(port, &url)?;
    let channel = Channel::from_shared(format!("http://127.0.0.1:{port}"))?.connect_lazy();
    let client = MetricsServiceClient::new(channel);
    let mut ready = false;
    for _ in 0..100 {
        if client
            .clone()
            .get_metrics_overview(signed(GetMetricsOverviewRequest::default()))
            .await
            .is_ok()
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !ready {
        let _ = child.kill();
        bail!("svc-metrics did not answer");
    }
    let pid = child.id();
    let full = |request: GetPipelineMetricsRequest| {
        let client = client.clone();
        move || {
            let mut client = client.clone();
            let request = request.clone();
            async move {
                client.get_pipeline_metrics(signed(request)).await?;
                Ok(())
            }
        }
    };
    measure(
        "full metrics, all pipelines, all time",
        &db_name,
        pid,
        requests,
        full(GetPipelineMetricsRequest::default()),
    )
    .await;
    let today = chrono::Utc::now().date_naive();
    measure(
        "full metrics, Sales, last 90 days",
        &db_name,
        pid,
        requests,
        full(GetPipelineMetricsRequest {
            pipeline_id: SALES.into(),
            start_date: (today - chrono::Duration::days(90)).to_string(),
            end_date: today.to_string(),
            ..Default::default()
        }),
    )
    .await;
    measure("legacy overview, all time", &db_name, pid, requests, || {
        let mut client = client.clone();
        async move {
            client
                .get_metrics_overview(signed(GetMetricsOverviewRequest::default()))
                .await?;
            Ok(())
        }
    })
    .await;
    let _ = child.kill();
    let _ = child.wait();
    drop_database(&db_name).await
}

/// Removes the run's database.
async fn drop_database(name: &str) -> anyhow::Result<()> {
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    sea_orm::Database::connect(&base)
        .await?
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await?;
    Ok(())
}
