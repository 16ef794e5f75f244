use anyhow::Context;
use crm_platform::bus::Bus;
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
    let bus = match crm_platform::config::env_nonempty("REDIS_URL") {
        Some(url) => Bus::redis(
            redis::Client::open(url)?,
            "crm:keys:invalidate".into(),
            shutdown.clone(),
        ),
        None => Bus::in_process(),
    };
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    tracing::info!(%addr, "svc-auth listening");
    tokio::spawn(crm_platform::server::cancel_on_signal(shutdown.clone()));
    svc_auth::serve(config, bus, listener, shutdown).await
}
