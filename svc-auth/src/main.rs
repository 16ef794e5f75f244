use anyhow::Context;
use crm_platform::{
    bus::{Bus, invalidation_channel},
    quota_view::QuotaView,
};
use tokio_util::sync::CancellationToken;

#[global_allocator]
static ALLOCATOR: crm_platform::Allocator = crm_platform::Allocator {};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = crm_platform::telemetry::init("svc-auth");
    let config: svc_auth::Config = crm_platform::config::load().context("loading configuration")?;
    let addr =
        crm_platform::config::env_nonempty("CRM_LISTEN").unwrap_or_else(|| "0.0.0.0:50051".into());
    let shutdown = CancellationToken::new();
    // The gateways' Redis prefix: svc-auth announces key changes on their channel and reads
    // their rate-limit buckets.
    let prefix =
        crm_platform::config::env_nonempty("CRM_REDIS_PREFIX").unwrap_or_else(|| "crm:".into());
    let (bus, quota) = match crm_platform::config::env_nonempty("REDIS_URL") {
        Some(url) => {
            let client = redis::Client::open(url)?;
            (
                Bus::redis(
                    client.clone(),
                    invalidation_channel(&prefix),
                    shutdown.clone(),
                ),
                QuotaView::redis(client, &prefix),
            )
        }
        None => (Bus::in_process(), QuotaView::in_process()),
    };
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    tracing::info!(%addr, "svc-auth listening");
    tokio::spawn(crm_platform::server::cancel_on_signal(shutdown.clone()));
    svc_auth::serve(config, bus, quota, listener, shutdown).await
}
