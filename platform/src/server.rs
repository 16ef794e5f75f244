//! Server bootstrap shared by every service: health, reflection, graceful shutdown, and the
//! channels services call each other on.

use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::{
    Channel, Endpoint, Server,
    server::{Router, TcpIncoming},
};
use tonic_health::ServingStatus;

/// Why a service stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The descriptor set could not be turned into a reflection service.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The transport failed.
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Serves `add_services` plus gRPC health (reporting each of `service_names`) and reflection
/// on `listener` until `shutdown` fires; health turns NOT_SERVING first, then requests drain.
pub async fn serve_grpc(
    listener: TcpListener,
    shutdown: CancellationToken,
    service_names: &[&str],
    add_services: impl FnOnce(Router) -> Router,
) -> Result<(), ServeError> {
    let (reporter, health) = tonic_health::server::health_reporter();
    for name in service_names {
        reporter
            .set_service_status(*name, ServingStatus::Serving)
            .await;
    }
    // Reflection lists only what this server serves, though it can describe every type.
    let mut reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crm_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .with_service_name("grpc.health.v1.Health");
    for name in service_names {
        reflection = reflection.with_service_name(*name);
    }
    let reflection = reflection.build_v1()?;
    let router = Server::builder()
        .add_service(health)
        .add_service(reflection);
    let router = add_services(router);
    let names: Vec<String> = service_names.iter().map(|s| (*s).to_owned()).collect();
    router
        // Without TCP_NODELAY a reply written in two segments (headers, then data and
        // trailers) waits for the peer's delayed ACK: ~40 ms on a few calls in every run.
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            async move {
                shutdown.cancelled().await;
                for name in &names {
                    reporter
                        .set_service_status(name, ServingStatus::NotServing)
                        .await;
                }
            },
        )
        .await?;
    Ok(())
}

/// Cancels `shutdown` on Ctrl-C or SIGTERM. Binaries spawn this; libraries never read signals.
pub async fn cancel_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutdown requested");
    shutdown.cancel();
}

/// How long a service waits to connect to another.
const PEER_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a service waits for another's answer, unless the caller sets its own.
const PEER_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The endpoint of another service at `url`: 2 s to connect, 10 s per call. For a caller that
/// needs another call timeout; [`peer_channel`] otherwise.
pub fn peer_endpoint(url: &str) -> Result<Endpoint, tonic::transport::Error> {
    Ok(Endpoint::from_shared(url.to_owned())?
        .connect_timeout(PEER_CONNECT_TIMEOUT)
        .timeout(PEER_CALL_TIMEOUT))
}

/// A channel to another service at `url`, connected on first use, so services may start in
/// any order (several call each other).
pub fn peer_channel(url: &str) -> Result<Channel, tonic::transport::Error> {
    Ok(peer_endpoint(url)?.connect_lazy())
}
