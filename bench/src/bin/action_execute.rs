//! `POST /api/actions/execute` with `add_tag` through the gateway (embedded stack, SQLite):
//! 50 contacts, tags cycling over 10 names (the first call of a name creates the tag), from
//! `concurrency` tasks. The route allows 50 executions per minute per caller, so the calls are
//! spread over enough keys that none is refused. Prints p50/p99 and the server's CPU per call.
//!
//! ```sh
//! cargo build --release -p crm-stack -p crm-bench
//! target/release/action_execute [calls] [concurrency]
//! ```

use anyhow::Context;
use crm_bench::{Server, cpu_time, summarize};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Calls per key, under the route's 50 per minute.
const PER_KEY: usize = 45;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let calls: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(900);
    let concurrency: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(4);
    let server = Server::start(18191)?;
    let (token, keys) = server
        .keys(
            &["actions:execute", "contacts:write"],
            calls.div_ceil(PER_KEY),
        )
        .await?;
    let http = reqwest::Client::new();
    let mut contacts = Vec::new();
    for n in 0..50 {
        let created: Value = http
            .post(format!("{}/api/contacts", server.base))
            .bearer_auth(&token)
            .json(&json!({"firstname": "Ann", "lastname": format!("Lee {n}"),
                          "phone_number": format!("+1555010{n:04}")}))
            .send()
            .await?
            .json()
            .await?;
        contacts.push(
            created["data"]["id"]
                .as_str()
                .context("contact id")?
                .to_owned(),
        );
    }

    let pid = server.pid();
    let cpu_before = cpu_time(pid);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..concurrency {
        let (http, base, keys, contacts) = (
            http.clone(),
            server.base.clone(),
            keys.clone(),
            contacts.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for i in (t..calls).step_by(concurrency) {
                let body = json!({
                    "action_type": "add_tag",
                    "contact_id": contacts[i % contacts.len()],
                    "configuration": {"tagName": format!("Hot Lead {}", i % 10), "color": "red"},
                    "execution_context": {"flow_id": "bench", "trigger_event": "form_submission"}
                });
                let at = Instant::now();
                let answer = http
                    .post(format!("{base}/api/actions/execute"))
                    .header("x-api-key", &keys[i / PER_KEY])
                    .json(&body)
                    .send()
                    .await;
                let ok = matches!(&answer, Ok(r) if r.status().is_success());
                if !ok {
                    let text = match answer {
                        Ok(r) => format!("{} {}", r.status(), r.text().await.unwrap_or_default()),
                        Err(e) => e.to_string(),
                    };
                    eprintln!("call {i} failed: {text}");
                    continue;
                }
                latencies.push(at.elapsed().as_micros() as u64);
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await?);
    }
    let elapsed = started.elapsed();
    let cpu = cpu_time(pid).saturating_sub(cpu_before);
    let done = latencies.len();
    let s = summarize(latencies, elapsed.max(Duration::from_millis(1)));
    println!(
        "add_tag: {done}/{calls} calls, concurrency {concurrency}: {:.0} calls/s, p50 {:.2} ms, p99 {:.2} ms, server CPU {:.0} µs per call",
        s.rps,
        s.p50_us as f64 / 1000.0,
        s.p99_us as f64 / 1000.0,
        cpu.as_micros() as f64 / done.max(1) as f64
    );
    Ok(())
}
