//! `grpc.health.v1.Health` on the gateway's port, answered by the gateway itself. The service
//! `""` is the gateway's readiness (every backend serving, as `/readyz` says); a public
//! service is the health of the backend that serves it. A task asks the backends every
//! second, so `Check` costs no round trip, and tells the reporter only what changed, so
//! `Watch` streams send changes rather than a heartbeat.

use crate::backends::Backends;
use futures::{Stream, StreamExt, future::join_all};
use std::{collections::BTreeMap, pin::Pin, time::Duration};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use tonic_health::{
    ServingStatus,
    pb::{
        HealthCheckRequest, HealthCheckResponse,
        health_check_response::ServingStatus as WireStatus,
        health_client::HealthClient,
        health_server::{Health, HealthServer},
    },
    server::{HealthReporter, HealthService},
};
use tracing::Instrument;

/// How often the backends are asked.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// How long a backend may take to answer before it counts as not serving.
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// The health service of the gateway's port.
pub struct GatewayHealth {
    statuses: HealthService,
    /// Fires once shutdown has been reported, to end open `Watch` streams.
    ended: CancellationToken,
}

impl GatewayHealth {
    /// The health service for `services` (full name → backend), kept up to date by a task
    /// that stops when `shutdown` fires, after reporting every service not serving.
    pub fn start(
        services: BTreeMap<String, String>,
        backends: Backends,
        shutdown: CancellationToken,
    ) -> HealthServer<Self> {
        let reporter = HealthReporter::new();
        let ended = CancellationToken::new();
        let statuses = HealthService::from_health_reporter(reporter.clone());
        tokio::spawn(
            poll_backends(reporter, services, backends, shutdown, ended.clone())
                .instrument(tracing::info_span!("gateway_health")),
        );
        HealthServer::new(Self { statuses, ended })
    }
}

#[tonic::async_trait]
impl Health for GatewayHealth {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        self.statuses.check(request).await
    }

    type WatchStream =
        Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send + 'static>>;

    /// As tonic-health's, except that the stream ends, with a last NOT_SERVING, when the
    /// gateway shuts down: its reporter lives as long as the process, so the stream would
    /// otherwise stay open and hold the graceful shutdown until its grace runs out.
    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let changes = self.statuses.watch(request).await?.into_inner();
        let last = futures::stream::once(async {
            Ok(HealthCheckResponse {
                status: WireStatus::NotServing as i32,
            })
        });
        let stream = changes
            .take_until(self.ended.clone().cancelled_owned())
            .chain(last);
        Ok(Response::new(Box::pin(stream)))
    }
}

/// Asks every backend, sets what changed; on shutdown sets everything not serving.
async fn poll_backends(
    reporter: HealthReporter,
    services: BTreeMap<String, String>,
    backends: Backends,
    shutdown: CancellationToken,
    ended: CancellationToken,
) {
    let mut statuses = Statuses::default();
    // Until the first round answers, nothing is known to serve.
    statuses.set(&reporter, "", false).await;
    for service in services.keys() {
        statuses.set(&reporter, service, false).await;
    }
    let mut ticks = tokio::time::interval(POLL_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = ticks.tick() => {}
        }
        let serving = serving_backends(&backends).await;
        let ready = serving.values().all(|s| *s);
        statuses.set(&reporter, "", ready).await;
        for (service, backend) in &services {
            let up = serving.get(backend).copied().unwrap_or(false);
            statuses.set(&reporter, service, up).await;
        }
    }
    statuses.set(&reporter, "", false).await;
    for service in services.keys() {
        statuses.set(&reporter, service, false).await;
    }
    ended.cancel();
}

/// Whether each backend answers its own health check with SERVING, asked all at once.
async fn serving_backends(backends: &Backends) -> BTreeMap<String, bool> {
    let names: Vec<String> = backends.names().cloned().collect();
    let checks = names.iter().map(|name| async move {
        let Ok(channel) = backends.get(name) else {
            return false;
        };
        let mut client = HealthClient::new(channel);
        let check = client.check(HealthCheckRequest {
            service: String::new(),
        });
        matches!(
            tokio::time::timeout(CHECK_TIMEOUT, check).await,
            Ok(Ok(r)) if r.get_ref().status == WireStatus::Serving as i32
        )
    });
    names.iter().cloned().zip(join_all(checks).await).collect()
}

/// The statuses last reported, so only changes reach the reporter (each report wakes every
/// watcher of that service).
#[derive(Default)]
struct Statuses(BTreeMap<String, bool>);

impl Statuses {
    async fn set(&mut self, reporter: &HealthReporter, service: &str, serving: bool) {
        if self.0.get(service) == Some(&serving) {
            return;
        }
        let changed = self.0.insert(service.to_owned(), serving).is_some();
        if changed && service.is_empty() {
            tracing::info!(serving, "gateway readiness changed");
        } else if changed {
            tracing::debug!(service, serving, "service health changed");
        }
        let status = if serving {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        reporter.set_service_status(service, status).await;
    }
}
