//! Listing opportunities through the gateway on Postgres: 10 000 opportunities in one
//! workspace, pages of 50 filtered on stage and amount range, with an API key. Prints
//! requests/s, p50/p99 and server CPU per request, then `EXPLAIN ANALYZE` of the list's two
//! queries on the seeded data.
//!
//! `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!  cargo run --release -p crm-bench --bin list_opportunities -- [concurrency] [seconds] [opportunities]`

use anyhow::Context;
use bytes::Bytes;
use crm_bench::{Server, measure, print};
use http_body_util::{BodyExt, Empty};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use sea_orm::{ConnectionTrait, DatabaseBackend};
use serde_json::{Value, json};
use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

const PRIORITIES: [&str; 3] = ["low", "medium", "high"];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let concurrency: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(16);
    let seconds: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10);
    let total: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    anyhow::ensure!(
        std::env::var("DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")),
        "set DATABASE_URL to a Postgres server (a fresh database is created on it)"
    );
    // A database of its own, created here and used by every service of the child process.
    let storage = crm_platform::testing::TestStorage::new().await;
    let db_url = storage.database_url.clone().context("database url")?;
    let server = Server::start_with(18183, &[("DATABASE_URL", db_url.as_str())])?;
    let (token, key) = server.key(&["opportunities:read"]).await?;
    let http = reqwest::Client::new();

    let pipeline: Value = http
        .post(format!("{}/api/pipeline/pipelines", server.base))
        .bearer_auth(&token)
        .json(&json!({"name": "Bench"}))
        .send()
        .await?
        .json()
        .await?;
    let stages: Vec<String> = pipeline["data"]["stages"]
        .as_array()
        .context("stages")?
        .iter()
        .filter_map(|s| s["id"].as_str().map(str::to_owned))
        .collect();

    // Seed through the API, as a client would.
    let seeded = Arc::new(AtomicUsize::new(0));
    let mut seeders = Vec::new();
    for worker in 0..8 {
        let (http, base, token, stages, seeded) = (
            http.clone(),
            server.base.clone(),
            token.clone(),
            stages.clone(),
            seeded.clone(),
        );
        seeders.push(tokio::spawn(async move {
            let mut i = worker;
            while i < total {
                let body = json!({
                    "title": format!("Opportunity {i}"),
                    "description": "seeded for the list benchmark",
                    "stage_id": stages[i % stages.len()],
                    // Spread 1 000..100 999 so the amount filter keeps a share of each stage.
                    "value": 1000 + (i * 7919) % 100_000,
                    "priority": PRIORITIES[i % 3],
                    "tags": ["bench"],
                });
                let r = http
                    .post(format!("{base}/api/pipeline/opportunities"))
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await;
                assert!(
                    r.is_ok_and(|r| r.status() == 201),
                    "seeding opportunity {i} failed"
                );
                seeded.fetch_add(1, Ordering::Relaxed);
                i += 8;
            }
        }));
    }
    for s in seeders {
        s.await?;
    }
    println!(
        "seeded {} opportunities over {} stages",
        seeded.load(Ordering::Relaxed),
        stages.len()
    );

    // The steady state autovacuum reaches on its own: statistics and the visibility map
    // current, so index-only scans can skip the heap.
    let db = crm_platform::db::connect(&db_url, "pipeline").await?;
    db.execute_unprepared("VACUUM ANALYZE opportunities")
        .await?;
    db.close().await.ok();

    let stage = stages[1].clone();
    let query = format!("stage_id={stage}&min_amount=20000&max_amount=80000&limit=50");
    let sample: Value = http
        .get(format!(
            "{}/api/pipeline/opportunities?{query}",
            server.base
        ))
        .header("x-api-key", &key)
        .send()
        .await?
        .json()
        .await?;
    let matches = sample["pagination"]["total"].as_u64().unwrap_or(0);
    let pages = sample["pagination"]["totalPages"]
        .as_u64()
        .unwrap_or(1)
        .max(1);
    println!("filter stage + amount 20 000..80 000 matches {matches} rows ({pages} pages of 50)");

    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(concurrency)
        .build_http();
    let next_page = Arc::new(AtomicUsize::new(0));
    let call = {
        let base = server.base.clone();
        move || {
            let client = client.clone();
            let key = key.clone();
            // Walk the pages in turn, so offsets vary as a client paging through would.
            let page = next_page.fetch_add(1, Ordering::Relaxed) as u64 % pages + 1;
            let uri: hyper::Uri = format!("{base}/api/pipeline/opportunities?{query}&page={page}")
                .parse()
                .expect("uri");
            async move {
                let request = hyper::Request::get(uri)
                    .header("x-api-key", key)
                    .body(Empty::new())
                    .expect("request");
                match client.request(request).await {
                    Ok(r) if r.status() == 200 => r.into_body().collect().await.is_ok(),
                    _ => false,
                }
            }
        }
    };
    println!(
        "concurrency {concurrency}, {seconds} s, server = crm process (all services + gateway) on Postgres, 2 shared cores"
    );
    let run = measure(server.pid(), concurrency, seconds, call).await;
    print("REST list opportunities, 50/page, stage+amount", &run);

    explain(&db_url, &stage).await
}

/// Prints `EXPLAIN ANALYZE` of the two statements a list request runs.
async fn explain(db_url: &str, stage: &str) -> anyhow::Result<()> {
    let db = crm_platform::db::connect(db_url, "pipeline").await?;
    let workspace: Option<String> = db
        .query_one_raw(sea_orm::Statement::from_string(
            DatabaseBackend::Postgres,
            "SELECT workspace_id FROM opportunities LIMIT 1",
        ))
        .await?
        .and_then(|r| r.try_get_by_index(0).ok());
    let workspace = workspace.context("no opportunities")?;
    let filter = svc_pipeline::store::opportunities::Filter {
        stage_id: Some(stage.to_owned()),
        min_cents: Some(2_000_000),
        max_cents: Some(8_000_000),
        ..Default::default()
    };
    let (count, page) = svc_pipeline::store::opportunities::list_sql(
        DatabaseBackend::Postgres,
        &workspace,
        &filter,
        0,
        50,
    );
    for (name, sql) in [("count", count), ("page", page)] {
        println!("\n-- {name}: {sql}");
        let rows = db
            .query_all_raw(sea_orm::Statement::from_string(
                DatabaseBackend::Postgres,
                format!("EXPLAIN (ANALYZE, COSTS OFF) {sql}"),
            ))
            .await?;
        for row in rows {
            let line: String = row.try_get_by_index(0)?;
            println!("{line}");
        }
    }
    Ok(())
}
