//! svc-webhooks' delivery engine under load: events published through its event sink (as the
//! services' outbox relays publish them, in batches of 100) at a steady rate, delivered to a
//! local receiver that answers 204. Prints delivered events/s, p50/p99 from the moment the
//! sink committed an event's batch to the moment the receiver got it, and svc-webhooks' CPU
//! per event (and on Postgres its backends' CPU per event). Then the same with a second
//! subscription whose endpoint always answers 500: the healthy endpoint's latency should not
//! move.
//!
//! ```sh
//! cargo build --release -p svc-webhooks -p crm-bench
//! cargo run --release -p crm-bench --bin webhook_delivery -- [postgres|sqlite] [events/s] [events]
//! ```

use anyhow::{Context, bail};
use crm_bench::{backends_cpu, backends_spent, cpu_time, summarize};
use crm_platform::{Principal, PrincipalKind, Secret, principal::PrincipalVerifier};
use crm_proto::webhooks::{
    self as pb, event_sink_service_client::EventSinkServiceClient,
    webhooks_service_client::WebhooksServiceClient,
};
use std::{
    collections::HashMap,
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};
use tonic::transport::Channel;

const SERVICE_SECRET: &str = "bench-service-secret-0123456789abcdef";
const BATCH: usize = 100;
const WORKSPACE: &str = "7d0c6a0e-2f1b-4c35-9a59-3f0a7e9b1c11";

/// Receipt times by event id, for the endpoint that answers 2xx.
type Receipts = Arc<Mutex<HashMap<String, Instant>>>;

/// Starts a receiver on 127.0.0.1:0 answering `status`; records 2xx receipts and counts
/// every request in `hits`.
async fn receiver(
    status: u16,
    receipts: Receipts,
    hits: Arc<AtomicUsize>,
) -> anyhow::Result<String> {
    use axum::{Router, body::Bytes, routing::post};
    let app = Router::new().route(
        "/hook",
        post(move |body: Bytes| {
            let receipts = receipts.clone();
            hits.fetch_add(1, Ordering::Relaxed);
            async move {
                if (200..300).contains(&status)
                    && let Ok(envelope) = serde_json::from_slice::<serde_json::Value>(&body)
                    && let Some(id) = envelope["id"].as_str()
                {
                    receipts
                        .lock()
                        .unwrap()
                        .entry(id.to_owned())
                        .or_insert_with(Instant::now);
                }
                axum::http::StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

/// A fresh database for one run: a new Postgres database, or a new SQLite file; its URL and
/// name.
async fn database(backend: &str, run: &str) -> anyhow::Result<(String, String)> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    if backend == "sqlite" {
        let dir = std::env::temp_dir().join(format!("crm-bench-webhooks-{id}"));
        std::fs::create_dir_all(&dir)?;
        let url = format!("sqlite://{}/webhooks.db?mode=rwc", dir.display());
        return Ok((url, String::new()));
    }
    use sea_orm::ConnectionTrait;
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let admin = sea_orm::Database::connect(&base).await?;
    let name = format!("crm_bench_{run}_{id}");
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await?;
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
    Ok((url, name))
}

/// Starts the release `svc-webhooks` binary on `port` with `database_url`.
fn start(port: u16, database_url: &str) -> anyhow::Result<Child> {
    let exe = std::env::current_exe()?;
    let bin = exe.parent().context("exe dir")?.join("svc-webhooks");
    if !bin.exists() {
        bail!(
            "{} is missing: build it first (cargo build --release -p svc-webhooks)",
            bin.display()
        );
    }
    Ok(Command::new(bin)
        .env("CRM_LISTEN", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", database_url)
        .env("CRM_SERVICE_SECRET", SERVICE_SECRET)
        .env("CRM_DATA_KEY", "bench-data-key-0123456789abcdef0123456789")
        .env("CRM_WEBHOOKS__ALLOW_TARGETS", "127.0.0.1")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?)
}

/// `message` as a workspace owner's call (for subscriptions).
fn signed<T>(message: T) -> tonic::Request<T> {
    let mut principal = Principal::new(PrincipalKind::User, WORKSPACE, "bench-owner");
    principal.role = "owner".into();
    signed_as(principal, message)
}

fn signed_as<T>(principal: Principal, message: T) -> tonic::Request<T> {
    let signer = PrincipalVerifier::new(&Secret::new(SERVICE_SECRET));
    let mut request = tonic::Request::new(message);
    signer
        .sign_into(&principal, request.metadata_mut())
        .expect("signs");
    request
}

async fn subscribe(channel: &Channel, url: &str) -> anyhow::Result<()> {
    WebhooksServiceClient::new(channel.clone())
        .create_webhook(signed(pb::CreateWebhookRequest {
            url: url.to_owned(),
            events: vec!["contact.*".into()],
            ..Default::default()
        }))
        .await?;
    Ok(())
}

/// One run: `events` events at `rate` per second; a failing endpoint too when `failing`.
async fn run(backend: &str, rate: u64, events: usize, failing: bool) -> anyhow::Result<()> {
    let name = if failing { "with_failing" } else { "healthy" };
    let (database_url, database_name) = database(backend, name).await?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut child = start(port, &database_url)?;
    let channel = Channel::from_shared(format!("http://127.0.0.1:{port}"))?.connect_lazy();
    let mut ready = false;
    for _ in 0..200 {
        let probe = WebhooksServiceClient::new(channel.clone())
            .list_webhooks(signed(pb::ListWebhooksRequest::default()))
            .await;
        if probe.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !ready {
        child.kill().ok();
        bail!("svc-webhooks did not start");
    }
    let receipts: Receipts = Arc::default();
    subscribe(
        &channel,
        &receiver(204, receipts.clone(), Arc::default()).await?,
    )
    .await?;
    let failing_hits = Arc::new(AtomicUsize::new(0));
    if failing {
        subscribe(
            &channel,
            &receiver(500, Arc::default(), failing_hits.clone()).await?,
        )
        .await?;
    }

    let pid = child.id();
    let cpu_before = cpu_time(pid);
    // Postgres' backends serving this database (none on SQLite, whose work is in-process).
    let postgres_before = backends_cpu(&database_name);
    let started = Instant::now();
    let mut committed: HashMap<String, Instant> = HashMap::with_capacity(events);
    let mut sink = EventSinkServiceClient::new(channel.clone());
    let batches = events.div_ceil(BATCH);
    for b in 0..batches {
        // Batches go out on a fixed schedule: the offered rate, not a closed loop.
        let due = started + Duration::from_secs_f64((b * BATCH) as f64 / rate as f64);
        tokio::time::sleep_until(due.into()).await;
        let batch: Vec<pb::DomainEvent> = (0..BATCH.min(events - b * BATCH))
            .map(|i| pb::DomainEvent {
                id: uuid::Uuid::now_v7().to_string(),
                workspace_id: WORKSPACE.into(),
                r#type: "contact.created".into(),
                aggregate_type: "contact".into(),
                aggregate_id: uuid::Uuid::new_v4().to_string(),
                payload_json: format!(
                    r#"{{"id":"{}","firstname":"Ann","lastname":"Lee","n":{}}}"#,
                    uuid::Uuid::new_v4(),
                    b * BATCH + i
                ),
                occurred_at: Some(prost_types::Timestamp::from(std::time::SystemTime::now())),
                source: "bench".into(),
            })
            .collect();
        let ids: Vec<String> = batch.iter().map(|e| e.id.clone()).collect();
        // As an outbox relay: a service principal.
        sink.publish_events(signed_as(
            Principal::service("bench-relay"),
            pb::PublishEventsRequest { events: batch },
        ))
        .await?;
        let at = Instant::now();
        committed.extend(ids.into_iter().map(|id| (id, at)));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while receipts.lock().unwrap().len() < events && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cpu = cpu_time(pid).saturating_sub(cpu_before);
    let postgres = if database_name.is_empty() {
        Duration::ZERO
    } else {
        backends_spent(&postgres_before, &backends_cpu(&database_name))
    };
    let got = receipts.lock().unwrap().clone();
    let last = got.values().max().copied().unwrap_or(started);
    let latencies: Vec<u64> = got
        .iter()
        .filter_map(|(id, at)| {
            committed
                .get(id)
                .map(|c| at.saturating_duration_since(*c).as_micros() as u64)
        })
        .collect();
    let summary = summarize(latencies, last - started);
    println!(
        "{backend:<8} {name:<13} offered {rate:>5}/s  delivered {:>6}/{events}  {:>7.0} events/s  p50 {:>7.1} ms  p99 {:>7.1} ms  svc-webhooks CPU {:>6.1} µs/event  Postgres CPU {:>6.1} µs/event  failing endpoint attempts {}",
        summary.count,
        summary.rps,
        summary.p50_us as f64 / 1000.0,
        summary.p99_us as f64 / 1000.0,
        cpu.as_secs_f64() * 1e6 / summary.count.max(1) as f64,
        postgres.as_secs_f64() * 1e6 / summary.count.max(1) as f64,
        failing_hits.load(Ordering::Relaxed),
    );
    child.kill().ok();
    child.wait().ok();
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let backend = args
        .get(1)
        .map(String::as_str)
        .unwrap_or("postgres")
        .to_owned();
    let rate: u64 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(500);
    let events: usize = args
        .get(3)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20_000);
    run(&backend, rate, events, false).await?;
    run(&backend, rate, events, true).await?;
    Ok(())
}
