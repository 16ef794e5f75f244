use anyhow::Context;
use crm_platform::bus::Bus;
use tokio_util::sync::CancellationToken;

#[global_allocator]
static ALLOCATOR: crm_platform::Allocator = crm_platform::Allocator {};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = crm_platform::telemetry::init("gateway");
    let mut config: crm_gateway::Config =
        crm_platform::config::load().context("loading configuration")?;
    if let Some(url) = crm_platform::config::env_nonempty("REDIS_URL") {
        config.redis_url = url;
    }
    let addr =
        crm_platform::config::env_nonempty("CRM_LISTEN").unwrap_or_else(|| "0.0.0.0:8080".into());
    let shutdown = CancellationToken::new();
    let bus = if config.redis_url.is_empty() {
        Bus::in_process()
    } else {
        let channel = crm_gateway::invalidation_channel(&config.redis_prefix);
        Bus::redis(
            redis::Client::open(config.redis_url.as_str())?,
            channel,
            shutdown.clone(),
        )
    };
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    tracing::info!(%addr, "gateway listening");
    tokio::spawn(crm_platform::server::cancel_on_signal(shutdown.clone()));
    crm_gateway::serve(config, bus, listener, shutdown).await
}
