//! What a user-token call costs through the gateway: REST `GET /api/auth/me` with the JWT
//! from a login, against the embedded stack (`crm`, SQLite, in-process caches) on
//! 127.0.0.1. Prints requests/s, p50/p99 latency and server CPU time per request
//! (/proc/PID/stat of the `crm` process, gateway and svc-auth together).
//!
//! Since the gateway resolves the caller's role per call (membership cache hit, then
//! svc-auth's `CheckMembership` only on a miss), this measures that path; built at the commit
//! before it, the same binary measures the claim-only path (role read from the token). Run
//! it at both commits and compare the summary lines. Only the workspace the token names is
//! used, so after the first call every membership lookup is a cache hit.
//!
//! `cargo run --release -p crm-bench --bin jwt_role -- [concurrency] [seconds per phase] [phases] [bare]`
//! (defaults 32, 8, 3). The user-token rate limit is raised out of reach so no call is
//! refused; `bare` also switches rate limits and the request log off, leaving
//! authentication and transcoding alone.

use bytes::Bytes;
use crm_bench::{Server, measure, print};
use http_body_util::{BodyExt, Empty};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let concurrency: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(32);
    let seconds: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(8);
    let phases: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(3).max(1);
    let bare = args.get(4).is_some_and(|a| a == "bare");
    let mut env = vec![("CRM_RATE_LIMITS__JWT_PER_MINUTE", "100000000")];
    if bare {
        env.push(("CRM_RATE_LIMITS__ENABLED", "false"));
        env.push(("CRM_REQUEST_LOG__ENABLED", "false"));
    }
    let server = Server::start_with(18184, &env)?;
    let token = login(&server).await?;

    let http: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(concurrency)
        .build_http();
    let uri: hyper::Uri = format!("{}/api/auth/me", server.base).parse()?;
    let authorization = format!("Bearer {token}");
    let call = move || {
        let (http, uri, authorization) = (http.clone(), uri.clone(), authorization.clone());
        async move {
            let request = hyper::Request::get(uri)
                .header("authorization", authorization)
                .body(Empty::new())
                .expect("request");
            match http.request(request).await {
                Ok(r) if r.status() == 200 => r.into_body().collect().await.is_ok(),
                _ => false,
            }
        }
    };

    println!(
        "REST GET /api/auth/me with a user token (JWT), concurrency {concurrency}, {seconds} s per phase, {phases} phases, server = crm process (all services + gateway), {}",
        if bare {
            "rate limits and request log off"
        } else {
            "default configuration (user-token limit raised out of reach)"
        }
    );
    let mut runs = Vec::with_capacity(phases);
    for phase in 1..=phases {
        let run = measure(server.pid(), concurrency, seconds, call.clone()).await;
        print(&format!("phase {phase}"), &run);
        runs.push(run);
    }
    let mean =
        |f: &dyn Fn(&crm_bench::Run) -> f64| runs.iter().map(f).sum::<f64>() / runs.len() as f64;
    println!(
        "summary: {:.0} req/s, p50 {:.0} µs, p99 {:.0} µs, server CPU {:.1} µs/req (means of {phases} phases)",
        mean(&|r| r.summary.rps),
        mean(&|r| r.summary.p50_us as f64),
        mean(&|r| r.summary.p99_us as f64),
        mean(&|r| r.cpu_per_request_us),
    );
    Ok(())
}

/// Logs in as the owner the server printed on first start; returns the token.
async fn login(server: &Server) -> anyhow::Result<String> {
    let response: Value = reqwest::Client::new()
        .post(format!("{}/api/auth/login", server.base))
        .json(&json!({"email": server.email, "password": server.password}))
        .send()
        .await?
        .json()
        .await?;
    response["token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("login answered without a token: {response}"))
}
