//! What rate limiting and the request log cost: API-key-authenticated REST
//! `GET /api/auth/me` through two `crm` servers in one run, one with limits and request
//! logging on (the defaults) and one with both switched off
//! (`CRM_RATE_LIMITS__ENABLED=false`, `CRM_REQUEST_LOG__ENABLED=false`), phases interleaved
//! off/on/off/on so drift on the shared cores hits both alike. Prints requests/s, the ratio
//! kept, the share of calls refused by a limit (429), Redis round trips per request (from the
//! gateway's `/metrics`) and server CPU time per request (/proc/PID/stat), and the CPU of the
//! ON server's SQLite threads per logged entry (with `DATABASE_URL` set, each server runs on a
//! fresh Postgres database there and the figure is the ON database's backends' CPU per
//! logged entry instead). With `REDIS_URL` set both servers use that
//! Redis, so the limits are the shared GCRA script; without it they are governor, in-process.
//!
//! `cargo run --release -p crm-bench --bin partner_rps -- [concurrency] [seconds per phase] [on] [rounds] [keys] [keys per client]`
//! where `on` is `both` (default), `limits` or `log`: what the ON server switches on, and
//! `rounds` (default 3) how many OFF/ON pairs run. `keys` (default 1) is how many keys the
//! load spreads over, one after another, as partners hold them: keys of partner API clients
//! (`/api/v1/api-clients`) on the four tiers as shipped (`crm_platform::rate_tiers`), in
//! turn, `keys per client` (default 1) keys to a client, each inheriting its client's tier.
//! `partner_rps 32 3 both 4 1000` is a thousand partner keys, a quarter on each tier. The
//! tiers' limits are the shipped ones, so a load faster than a key's tier allows is partly
//! refused: a 429 is an answer like any other here (the limit was checked and the call
//! logged), and its share is printed. Both servers get the same keys. The ratio of each pair
//! is printed, and the ratio of the summed rates; on shared cores single pairs swing by
//! several points.

use anyhow::Context;
use bytes::Bytes;
use crm_bench::{
    Run, Server, backends_cpu, backends_spent, fresh_database, measure, metric, redis_cpu,
    threads_cpu_time,
};
use crm_platform::rate_tiers::TIERS;
use http_body_util::{BodyExt, Empty};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use serde_json::{Value, json};
use std::sync::{
    Arc,
    atomic::{AtomicU64, AtomicUsize, Ordering},
};

/// Name (as the kernel truncates it) of SQLite's connection threads.
const SQLITE_THREADS: &str = "sqlx-sqlite";

struct Side {
    server: Server,
    keys: Arc<Vec<String>>,
    runs: Vec<Run>,
    /// Calls answered 429 over the whole run.
    refused: Arc<AtomicU64>,
    requests: u64,
    round_trips: u64,
    /// Redis CPU time during this side's measured phases.
    redis_cpu: std::time::Duration,
    measured: u64,
}

fn start(
    port: u16,
    limits: bool,
    log: bool,
    redis: Option<&str>,
    database: Option<&str>,
) -> anyhow::Result<Server> {
    let flag = |on: bool| if on { "true" } else { "false" };
    let prefix = format!("crmbench:{}:{port}:", std::process::id());
    let mut env = vec![
        ("CRM_RATE_LIMITS__ENABLED", flag(limits)),
        ("CRM_REQUEST_LOG__ENABLED", flag(log)),
        ("CRM_REDIS_PREFIX", prefix.as_str()),
        // Minting a thousand keys takes as many user-token calls; the measured calls use keys.
        ("CRM_RATE_LIMITS__JWT_PER_MINUTE", "1000000"),
    ];
    if let Some(url) = redis {
        env.push(("REDIS_URL", url));
    }
    if let Some(url) = database {
        env.push(("DATABASE_URL", url));
    }
    Server::start_with(port, &env)
}

/// A user token of the server's owner.
async fn login(http: &reqwest::Client, server: &Server) -> anyhow::Result<String> {
    let login: Value = http
        .post(format!("{}/api/auth/login", server.base))
        .json(&json!({"email": server.email, "password": server.password}))
        .send()
        .await?
        .json()
        .await?;
    Ok(login["token"].as_str().context("token")?.to_owned())
}

/// `POST` of `body` to `path` as the owner; the answer's `data`.
async fn create(
    http: &reqwest::Client,
    server: &Server,
    token: &str,
    path: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let response = http
        .post(format!("{}{path}", server.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await?;
    let status = response.status();
    let answer: Value = response.json().await?;
    anyhow::ensure!(status.is_success(), "POST {path}: {status} {answer}");
    Ok(answer["data"].clone())
}

/// `count` keys of partner clients, `per_client` to a client, the clients on each tier in
/// turn; keys of consecutive clients alternate, so a run over the keys in order cycles
/// through the tiers.
async fn partner_keys(
    server: &Server,
    count: usize,
    per_client: usize,
) -> anyhow::Result<Vec<String>> {
    let http = reqwest::Client::new();
    let token = login(&http, server).await?;
    let clients = count.div_ceil(per_client);
    let mut by_client = Vec::with_capacity(clients);
    for c in 0..clients {
        let tier = TIERS[c % TIERS.len()].name;
        let client = create(
            &http,
            server,
            &token,
            "/api/v1/api-clients",
            json!({
                "name": format!("bench partner {c}"),
                "contactEmail": format!("partner{c}@bench.example"),
                "rateLimitTier": tier,
                "scopes": ["contacts:read"]
            }),
        )
        .await?;
        let id = client["id"].as_str().context("client id")?.to_owned();
        let mut keys = Vec::with_capacity(per_client);
        for k in 0..per_client.min(count - c * per_client) {
            let key = create(
                &http,
                server,
                &token,
                "/api/v1/api-keys",
                json!({"clientId": id, "name": format!("bench {c}.{k}"), "scopes": ["contacts:read"]}),
            )
            .await?;
            keys.push(key["key"].as_str().context("key")?.to_owned());
        }
        by_client.push(keys);
    }
    let mut keys = Vec::with_capacity(count);
    for k in 0..per_client {
        keys.extend(by_client.iter().filter_map(|c| c.get(k).cloned()));
    }
    Ok(keys)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let concurrency: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(32);
    let seconds: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(8);
    let what = args.get(3).map_or("both", String::as_str);
    let rounds: usize = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(3);
    let key_count: usize = args.get(5).and_then(|a| a.parse().ok()).unwrap_or(1).max(1);
    let per_client: usize = args.get(6).and_then(|a| a.parse().ok()).unwrap_or(1).max(1);
    let (limits, log) = match what {
        "limits" => (true, false),
        "log" => (false, true),
        _ => (true, true),
    };
    let redis = std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty());
    let postgres = std::env::var("DATABASE_URL").is_ok_and(|u| !u.is_empty());
    let mut sides = Vec::new();
    // With DATABASE_URL each server gets a fresh database of its own on that Postgres.
    let mut on_database = None;
    for (port, on) in [(18190, false), (18191, true)] {
        let database = if postgres {
            let (url, name) = fresh_database("crm_bench_rps").await?;
            if on {
                on_database = Some(name);
            }
            Some(url)
        } else {
            None
        };
        let server = start(
            port,
            on && limits,
            on && log,
            redis.as_deref(),
            database.as_deref(),
        )?;
        let keys = partner_keys(&server, key_count, per_client).await?;
        sides.push(Side {
            server,
            keys: Arc::new(keys),
            runs: Vec::new(),
            refused: Arc::default(),
            requests: 0,
            round_trips: 0,
            redis_cpu: std::time::Duration::ZERO,
            measured: 0,
        });
    }
    // The request log's database work runs on SQLite's connection threads, after the calls
    // it logs: measured over the whole run and divided by the entries written.
    let sqlite_before = threads_cpu_time(sides[1].server.pid(), SQLITE_THREADS);
    let postgres_before = on_database.as_deref().map(backends_cpu);
    println!(
        "concurrency {concurrency}, {seconds} s per phase, {rounds} rounds of OFF then ON, ON = {what}, {key_count} partner key(s) on the four tiers, {per_client} per client, redis: {}",
        redis.as_deref().unwrap_or("none (governor in-process)")
    );
    for _ in 0..rounds {
        for (i, side) in sides.iter_mut().enumerate() {
            let http: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(concurrency)
                .build_http();
            let uri: hyper::Uri = format!("{}/api/auth/me", side.server.base).parse()?;
            let keys = side.keys.clone();
            let next = Arc::new(AtomicUsize::new(0));
            let refused = side.refused.clone();
            let call = move || {
                let key = keys[next.fetch_add(1, Ordering::Relaxed) % keys.len()].clone();
                let (http, uri, refused) = (http.clone(), uri.clone(), refused.clone());
                async move {
                    let request = hyper::Request::get(uri)
                        .header("x-api-key", key)
                        .body(Empty::new())
                        .expect("request");
                    match http.request(request).await {
                        Ok(r) if r.status() == 200 => r.into_body().collect().await.is_ok(),
                        Ok(r) if r.status() == 429 => {
                            refused.fetch_add(1, Ordering::Relaxed);
                            r.into_body().collect().await.is_ok()
                        }
                        _ => false,
                    }
                }
            };
            let trips_before =
                metric(&side.server.base, "crm_gateway_redis_round_trips_total").await?;
            let redis_before = redis.as_deref().and_then(redis_cpu);
            let run = measure(side.server.pid(), concurrency, seconds, call).await;
            // Redis' CPU covers the warm-up second too, so its requests are counted with it.
            if let (Some(before), Some(after)) =
                (redis_before, redis.as_deref().and_then(redis_cpu))
            {
                side.redis_cpu += after.saturating_sub(before);
                side.measured += (run.summary.count + run.warmup_requests) as u64;
            }
            let trips_after =
                metric(&side.server.base, "crm_gateway_redis_round_trips_total").await?;
            side.round_trips += trips_after - trips_before;
            side.requests += (run.summary.count + run.warmup_requests) as u64;
            println!(
                "{:<40} {:>9.0} req/s   p50 {:>6} µs   p99 {:>6} µs   server CPU {:>6.1} µs/req",
                if i == 0 { "OFF" } else { "ON" },
                run.summary.rps,
                run.summary.p50_us,
                run.summary.p99_us,
                run.cpu_per_request_us
            );
            side.runs.push(run);
        }
        let (off, on) = (sides[0].runs.last(), sides[1].runs.last());
        if let (Some(off), Some(on)) = (off, on) {
            println!(
                "  this round: ON keeps {:.0}%",
                100.0 * on.summary.rps / off.summary.rps
            );
        }
    }
    let rps = |s: &Side| s.runs.iter().map(|r| r.summary.rps).sum::<f64>() / s.runs.len() as f64;
    let cpu =
        |s: &Side| s.runs.iter().map(|r| r.cpu_per_request_us).sum::<f64>() / s.runs.len() as f64;
    let (off, on) = (&sides[0], &sides[1]);
    println!(
        "ON keeps {:.0}% of OFF requests/s ({:.0} vs {:.0}); server CPU {:.1} vs {:.1} µs/req",
        100.0 * rps(on) / rps(off),
        rps(on),
        rps(off),
        cpu(on),
        cpu(off)
    );
    let share =
        |s: &Side| 100.0 * s.refused.load(Ordering::Relaxed) as f64 / s.requests.max(1) as f64;
    println!(
        "refused by a limit (429): ON {:.1}%, OFF {:.1}%",
        share(on),
        share(off)
    );
    println!(
        "Redis round trips per request: ON {:.2}, OFF {:.2}",
        on.round_trips as f64 / on.requests.max(1) as f64,
        off.round_trips as f64 / off.requests.max(1) as f64
    );
    if redis.is_some() {
        let per_request = |s: &Side| s.redis_cpu.as_secs_f64() * 1e6 / s.measured.max(1) as f64;
        println!(
            "Redis CPU per request: ON {:.1} µs, OFF {:.1} µs",
            per_request(on),
            per_request(off)
        );
    }
    if log {
        // Let the last report land (they go every 2 s).
        tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    }
    let logged = metric(&on.server.base, "crm_gateway_request_logs_sent_total").await?;
    let dropped = metric(&on.server.base, "crm_gateway_request_logs_dropped_total").await?;
    println!("request log (ON): {logged} entries delivered, {dropped} dropped and counted");
    let per_entry = |d: std::time::Duration| d.as_secs_f64() * 1e6 / logged.max(1) as f64;
    match (&on_database, &postgres_before) {
        (Some(name), Some(before)) if logged > 0 => println!(
            "Postgres backends' CPU per logged entry (ON, all its work incl. keys and limits' reads): {:.1} µs",
            per_entry(backends_spent(before, &backends_cpu(name)))
        ),
        _ if logged > 0 => println!(
            "SQLite threads' CPU per logged entry (ON): {:.1} µs",
            per_entry(threads_cpu_time(on.server.pid(), SQLITE_THREADS) - sqlite_before)
        ),
        _ => {}
    }
    Ok(())
}
