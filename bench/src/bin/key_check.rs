//! Cost of checking an API key on a warm in-process cache: format and checksum, SHA-256,
//! cache lookup, principal construction — the gateway's per-request key work.
//!
//! `cargo run --release -p crm-bench --bin key_check`

use crm_bench::Server;
use crm_gateway::auth::key_cache::{CacheTtl, KeyResolver};
use crm_platform::{Secret, api_key, principal::PrincipalVerifier};
use std::{
    hint::black_box,
    time::{Duration, Instant},
};

const N: u32 = 200_000;

fn per_op(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e6 / f64::from(N)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let server = Server::start(18181)?;
    let (_, key) = server.key(&["contacts:read"]).await?;
    let channel = tonic::transport::Endpoint::from_shared(server.auth_url.clone())?.connect_lazy();
    let resolver = KeyResolver::new(
        channel,
        None,
        PrincipalVerifier::new(&Secret::new(server.service_secret.clone())),
        CacheTtl {
            positive: Duration::from_secs(600),
            negative: Duration::from_secs(5),
        },
    );
    resolver
        .resolve(&key)
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?; // warm the cache

    let start = Instant::now();
    for _ in 0..N {
        black_box(api_key::check(black_box(&key)).is_ok());
    }
    let check = per_op(start);
    let start = Instant::now();
    for _ in 0..N {
        black_box(api_key::hash(black_box(&key)));
    }
    let hash = per_op(start);
    let start = Instant::now();
    for _ in 0..N {
        black_box(resolver.resolve(black_box(&key)).await.is_ok());
    }
    let total = per_op(start);
    println!("key check on a warm in-process cache ({N} iterations, one core)");
    println!("  format + CRC32 checksum : {check:>6.2} µs");
    println!("  SHA-256                 : {hash:>6.2} µs");
    println!("  full check (format + hash + cache lookup + principal): {total:.2} µs/request");
    Ok(())
}
