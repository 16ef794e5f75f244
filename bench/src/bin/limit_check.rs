//! Cost of the gateway's rate-limit stage per call, in-process and apart from HTTP: the
//! plan, the call to Redis (or governor), the decision and its response headers, over many
//! keys called in turn at a steady rate, as in `partner_rps`' many-keys run. One thread does
//! it all, so the process' CPU time per call is this stage's cost (Redis' own CPU is not in
//! it). On this noisy machine the steadier figure is instructions per call, counted by
//! callgrind in the call itself (the Redis connection's own task is not in it):
//! `valgrind --tool=callgrind --toggle-collect='*one_call*' limit_check 1000 2000 2`, whose
//! total divided by the 6 000 calls it makes (2 s measured, 1 s of warm-up) is the figure.
//!
//! `REDIS_URL=redis://127.0.0.1:6379 cargo run --release -p crm-bench --bin limit_check -- [keys] [calls/s] [seconds]`
//! (defaults 1 000 keys, 20 000 calls/s, 5 s). Without `REDIS_URL` the limits are governor's.

use crm_bench::cpu_time;
use crm_gateway::{
    auth::key_cache::KeyEntry,
    ratelimit::{
        Limiter,
        policy::{self, RateLimitConfig},
    },
    redis_link::RedisLink,
    transcode::table::{MethodInfo, RouteTable},
};
use crm_platform::{Principal, PrincipalKind};
use std::{hint::black_box, net::IpAddr, pin::Pin, time::Duration};

// The allocator the servers use, so allocation costs what it costs there.
#[global_allocator]
static ALLOCATOR: crm_platform::Allocator = crm_platform::Allocator {};

/// One call's rate-limit stage as the gateway runs it: plan, check, headers. True when
/// refused.
async fn one_call(
    limiter: &Limiter,
    principal: &Principal,
    key: &KeyEntry,
    route: &MethodInfo,
    ip: IpAddr,
) -> bool {
    let decision = limiter
        .check(|| policy::plan(&limiter.config, principal, Some(key), route, ip))
        .await;
    let mut headers = http::HeaderMap::new();
    let refused = decision.as_ref().is_some_and(|d| !d.allowed);
    if let Some(d) = decision {
        d.apply(&mut headers);
    }
    black_box(headers);
    refused
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, default: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (key_count, rate, seconds) = (
        arg(1, 1000).max(1) as usize,
        arg(2, 20_000).max(1),
        arg(3, 5),
    );
    let (table, _) = RouteTable::from_descriptor_set(crm_proto::FILE_DESCRIPTOR_SET)?;
    let route = table
        .methods
        .get("/crm.auth.v1.AuthService/GetMe")
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("GetMe is not in the route table"))?;
    let redis = match std::env::var("REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(RedisLink::new(
            &url,
            &format!("limitbench:{}:", std::process::id()),
        )?),
        _ => None,
    };
    let shutdown = tokio_util::sync::CancellationToken::new();
    let limiter = Limiter::new(RateLimitConfig::default(), redis.clone(), shutdown.clone());
    // Keys as `partner_rps` mints them: each with its own very high per-minute override.
    let callers: Vec<(Principal, KeyEntry)> = (0..key_count)
        .map(|i| {
            let mut principal = Principal::new(PrincipalKind::ApiKey, "ws-bench", "owner");
            principal.api_key_id = format!("{i:08}-0000-7000-8000-000000000000");
            let key = KeyEntry {
                status: "active".into(),
                workspace_id: principal.workspace_id.clone(),
                api_key_id: principal.api_key_id.clone(),
                rate_limit_per_minute: Some(10_000_000),
                ..KeyEntry::default()
            };
            (principal, key)
        })
        .collect();
    let ip: IpAddr = "127.0.0.1".parse()?;
    let pid = std::process::id();

    // Calls come in ticks of a millisecond, `rate / 1000` per tick.
    let per_tick = (rate / 1000).max(1) as usize;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next = 0usize;
    let mut run = async |ticks: u64, calls_per_tick: usize| -> usize {
        let mut refused = 0;
        for _ in 0..ticks {
            tick.tick().await;
            for _ in 0..calls_per_tick {
                let (principal, key) = &callers[next % key_count];
                next += 1;
                // Boxed, so the call's work stays in one function of its own (`one_call`'s
                // future), which `valgrind --toggle-collect='*one_call*'` can count alone.
                let call: Pin<Box<dyn Future<Output = bool> + '_>> =
                    Box::pin(one_call(&limiter, principal, key, &route, ip));
                refused += usize::from(call.await);
            }
        }
        refused
    };
    let ticks = seconds * 1000;
    // What waking up every millisecond costs by itself, taken off the figure below.
    let cpu_before = cpu_time(pid);
    run(ticks, 0).await;
    let idle = cpu_time(pid).saturating_sub(cpu_before);
    run(1000, per_tick).await; // a second of calls, so every bucket exists as in steady state
    let trips_before = redis.as_ref().map_or(0, RedisLink::round_trips);
    let cpu_before = cpu_time(pid);
    let refused = run(ticks, per_tick).await;
    let cpu = cpu_time(pid)
        .saturating_sub(cpu_before)
        .saturating_sub(idle);
    let calls = ticks as f64 * per_tick as f64;
    let trips = redis.as_ref().map_or(0, RedisLink::round_trips) - trips_before;
    shutdown.cancel();
    println!(
        "rate-limit stage, {key_count} key(s), {} calls/s for {seconds} s, {}",
        per_tick * 1000,
        if redis.is_some() {
            "Redis"
        } else {
            "governor (no Redis)"
        }
    );
    println!(
        "  CPU {:.2} µs per call (plan, Redis call, decision, headers), {:.3} Redis round trips per call, {refused} refused",
        cpu.as_secs_f64() * 1e6 / calls,
        trips as f64 / calls
    );
    Ok(())
}
