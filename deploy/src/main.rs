use crm_stack::{Stack, StackConfig};

#[global_allocator]
static ALLOCATOR: crm_platform::Allocator = crm_platform::Allocator {};

#[tokio::main]
async fn main() {
    let _telemetry = crm_platform::telemetry::init("crm");
    // Printed as the chain of causes, each naming what to do; never as a backtrace, which
    // only buries the setting at fault.
    if let Err(e) = run().await {
        eprintln!("crm could not start: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> anyhow::Result<()> {
    let config = StackConfig::from_env()?;
    let storage = match &config.database_url {
        Some(_) => "Postgres (DATABASE_URL)".to_owned(),
        None => format!("SQLite in {}", config.data_dir.display()),
    };
    let cache = if config.redis_url.is_some() {
        "Redis (REDIS_URL)"
    } else {
        "in-process"
    };
    let stack = Stack::start(config).await?;
    tracing::info!(gateway = %stack.gateway_addr, %storage, cache, "CRM stack ready");
    for (name, url) in stack.backend_urls() {
        println!("svc-{name} on {url}");
    }
    println!(
        "CRM API on http://{}  (REST, gRPC, gRPC-web; docs at /openapi.json)",
        stack.gateway_addr
    );
    tokio::spawn(crm_platform::server::cancel_on_signal(
        stack.shutdown.clone(),
    ));
    stack.run_until_shutdown().await;
    Ok(())
}
