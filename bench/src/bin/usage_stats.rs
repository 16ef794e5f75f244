//! svc-metrics' usage statistics for one key with many requests, on Postgres: 1,000,000
//! requests spread over the last 30 days recorded through `RecordRequests` (in batches, as
//! gateways send them), then sequential `GetKeysUsage` calls over the 30 days, by day and by
//! hour, straight to the release `svc-metrics` binary over gRPC. Prints the ingest rate and,
//! per usage call, p50/p99 and CPU: svc-metrics' own (its /proc stat) and the Postgres
//! backends serving its connections (found by database name; parallel query is off for the
//! bench database so no work hides in parallel workers).
//!
//! ```sh
//! cargo build --release -p svc-metrics -p crm-bench
//! cargo run --release -p crm-bench --bin usage_stats -- [requests] [calls]
//! ```

use anyhow::{Context, bail};
use chrono::{Days, Utc};
use crm_bench::{
    SERVICE_SECRET, backends_cpu, backends_spent, cpu_time, fresh_database, start_svc_metrics,
    summarize,
};
use crm_platform::{Principal, Secret, principal::PrincipalVerifier};
use crm_proto::metrics::{
    CountAcceptedRequest, GetKeysUsageRequest, RecordRequestsRequest, RequestLog,
    usage_ingest_service_client::UsageIngestServiceClient,
};
use sea_orm::ConnectionTrait;
use std::time::{Duration, Instant};
use tonic::transport::Channel;

const WORKSPACE: &str = "7d0c6a0e-2f1b-4c35-9a59-3f0a7e9b1c22";
const KEY: &str = "0190a1b2-0000-7000-8000-00000000a11e";
const DAYS: i64 = 30;
/// Requests per `RecordRequests` call, and calls in flight.
const BATCH: usize = 1_000;
const IN_FLIGHT: usize = 4;
const ENDPOINTS: [&str; 6] = [
    "/api/v1/contacts",
    "/api/v1/contacts/{id}",
    "/api/v1/opportunities",
    "/api/v1/opportunities/{id}",
    "/api/v1/pipelines",
    "/api/v1/messages/sms",
];
const STATUSES: [u32; 10] = [200, 200, 200, 200, 200, 201, 204, 404, 429, 500];

/// Day partitions for the whole spread: svc-metrics makes them from yesterday on, and a
/// service that had run for 30 days would have the older ones too.
async fn past_partitions(url: &str) -> anyhow::Result<()> {
    let db = sea_orm::Database::connect(url).await?;
    let today = Utc::now().date_naive();
    for back in 2..=(DAYS as u64 + 1) {
        let day = today.checked_sub_days(Days::new(back)).context("date")?;
        let next = day.succ_opt().context("date")?;
        db.execute_unprepared(&format!(
            "CREATE TABLE IF NOT EXISTS metrics.request_log_{} PARTITION OF metrics.request_log \
             FOR VALUES FROM ('{day} 00:00:00+00') TO ('{next} 00:00:00+00')",
            day.format("%Y%m%d")
        ))
        .await?;
    }
    Ok(())
}

fn signed<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    PrincipalVerifier::new(&Secret::new(SERVICE_SECRET))
        .sign_into(&Principal::service("bench"), request.metadata_mut())
        .expect("signs");
    request
}

/// `n` requests of [`KEY`] spread evenly over the last [`DAYS`] days, in batches.
async fn ingest(client: &UsageIngestServiceClient<Channel>, n: usize) -> anyhow::Result<()> {
    let now_ms = Utc::now().timestamp_millis();
    let span_ms = DAYS * 86_400_000;
    let batches = n.div_ceil(BATCH);
    let mut next = 0usize;
    while next < batches {
        let mut calls = Vec::new();
        for b in next..(next + IN_FLIGHT).min(batches) {
            let requests: Vec<RequestLog> = (b * BATCH..((b + 1) * BATCH).min(n))
                .map(|i| {
                    // A fixed stride over the span (no rand dependency), oldest first.
                    let at_ms = now_ms - span_ms + (i as i64 * span_ms) / n as i64;
                    RequestLog {
                        workspace_id: WORKSPACE.into(),
                        api_key_id: KEY.into(),
                        method: if i % 4 == 0 { "POST" } else { "GET" }.into(),
                        endpoint: ENDPOINTS[i % ENDPOINTS.len()].into(),
                        status_code: STATUSES[(i / 7) % STATUSES.len()],
                        response_time_ms: (i % 97) as u32 * 3,
                        request_ip: "203.0.113.9".into(),
                        user_agent: "bench/1".into(),
                        request_size: 120,
                        response_size: 900,
                        timestamp: Some(prost_types::Timestamp {
                            seconds: at_ms.div_euclid(1000),
                            nanos: (at_ms.rem_euclid(1000) * 1_000_000) as i32,
                        }),
                        request_id: format!("bench-{i}"),
                        ..Default::default()
                    }
                })
                .collect();
            let mut client = client.clone();
            calls.push(tokio::spawn(async move {
                client
                    .record_requests(signed(RecordRequestsRequest { requests }))
                    .await
            }));
        }
        for call in calls {
            call.await??;
        }
        next += IN_FLIGHT;
    }
    Ok(())
}

async fn measure(
    name: &str,
    db_name: &str,
    pid: u32,
    calls: usize,
    client: &UsageIngestServiceClient<Channel>,
    request: GetKeysUsageRequest,
) -> anyhow::Result<()> {
    for _ in 0..3 {
        client
            .clone()
            .get_keys_usage(signed(request.clone()))
            .await?;
    }
    let (cpu_before, pg_before) = (cpu_time(pid), backends_cpu(db_name));
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(calls);
    let mut total = 0;
    for _ in 0..calls {
        let t = Instant::now();
        total = client
            .clone()
            .get_keys_usage(signed(request.clone()))
            .await?
            .into_inner()
            .total_requests;
        latencies.push(t.elapsed().as_micros() as u64);
    }
    let elapsed = started.elapsed();
    let service = cpu_time(pid).saturating_sub(cpu_before);
    let postgres = backends_spent(&pg_before, &backends_cpu(db_name));
    let s = summarize(latencies, elapsed);
    let per = |d: Duration| d.as_secs_f64() * 1000.0 / calls as f64;
    println!(
        "{name:<36} p50 {:>7.1} ms   p99 {:>7.1} ms   CPU/call: svc-metrics {:>5.2} ms, Postgres {:>7.1} ms   ({} calls, {total} requests counted)",
        s.p50_us as f64 / 1000.0,
        s.p99_us as f64 / 1000.0,
        per(service),
        per(postgres),
        s.count
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let calls: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(50);
    let (url, db_name) = fresh_database("crm_bench_usage").await?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut child = start_svc_metrics(port, &url)?;
    let channel = Channel::from_shared(format!("http://127.0.0.1:{port}"))?.connect_lazy();
    let client = UsageIngestServiceClient::new(channel);
    let mut ready = false;
    for _ in 0..100 {
        let probe = CountAcceptedRequest {
            workspace_id: WORKSPACE.into(),
            api_key_ids: vec![KEY.into()],
            ..Default::default()
        };
        if client.clone().count_accepted(signed(probe)).await.is_ok() {
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
    past_partitions(&url).await?;

    let (cpu_before, pg_before) = (cpu_time(pid), backends_cpu(&db_name));
    let started = Instant::now();
    ingest(&client, n).await?;
    let elapsed = started.elapsed();
    let per_request = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    println!(
        "ingest {n} requests ({BATCH} a call, {IN_FLIGHT} in flight): {:.0} requests/s   CPU/request: svc-metrics {:.1} µs, Postgres {:.1} µs",
        n as f64 / elapsed.as_secs_f64(),
        per_request(cpu_time(pid).saturating_sub(cpu_before)),
        per_request(backends_spent(&pg_before, &backends_cpu(&db_name))),
    );

    let now = Utc::now();
    let range = |group_by: &str| GetKeysUsageRequest {
        workspace_id: WORKSPACE.into(),
        api_key_ids: vec![KEY.into()],
        date_from: Some(prost_types::Timestamp {
            seconds: (now - chrono::Duration::days(DAYS)).timestamp(),
            nanos: 0,
        }),
        date_to: Some(prost_types::Timestamp {
            seconds: now.timestamp() + 60,
            nanos: 0,
        }),
        group_by: group_by.into(),
        ..Default::default()
    };
    measure(
        "usage, 30 days by day",
        &db_name,
        pid,
        calls,
        &client,
        range("day"),
    )
    .await?;
    measure(
        "usage, 30 days by hour",
        &db_name,
        pid,
        calls,
        &client,
        range("hour"),
    )
    .await?;
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
