use anyhow::Context;
use tokio_util::sync::CancellationToken;

#[global_allocator]
static ALLOCATOR: crm_platform::Allocator = crm_platform::Allocator {};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = crm_platform::telemetry::init("svc-webhooks");
    let mut config: svc_webhooks::Config =
        crm_platform::config::load().context("loading configuration")?;
    if let Some(raw) = crm_platform::config::env_nonempty("CRM_WEBHOOKS__ALLOW_TARGETS") {
        config.allow_targets = svc_webhooks::parse_allow_targets(&raw);
    }
    if let Some(url) = crm_platform::config::env_nonempty("CRM_WEBHOOKS__AUTH_URL") {
        config.auth_url = url;
    }
    if let Some(url) = crm_platform::config::env_nonempty("CRM_WEBHOOKS__PIPELINE_URL") {
        config.pipeline_url = url;
    }
    if let Some(raw) = crm_platform::config::env_nonempty("CRM_WEBHOOKS__INCOMING_MAX_BODY_BYTES") {
        config.incoming_max_body_bytes = raw
            .trim()
            .parse()
            .context("CRM_WEBHOOKS__INCOMING_MAX_BODY_BYTES must be a number of bytes")?;
    }
    if let Some(raw) = crm_platform::config::env_nonempty("CRM_WEBHOOKS__INCOMING_CALLS_PER_MINUTE")
    {
        config.incoming_calls_per_minute = raw
            .trim()
            .parse()
            .context("CRM_WEBHOOKS__INCOMING_CALLS_PER_MINUTE must be a whole number")?;
    }
    let addr =
        crm_platform::config::env_nonempty("CRM_LISTEN").unwrap_or_else(|| "0.0.0.0:50054".into());
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    tracing::info!(%addr, "svc-webhooks listening");
    let shutdown = CancellationToken::new();
    tokio::spawn(crm_platform::server::cancel_on_signal(shutdown.clone()));
    svc_webhooks::serve(config, listener, shutdown).await
}
