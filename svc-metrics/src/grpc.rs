//! `crm.metrics.v1.MetricsService`.

use crm_proto::metrics::metrics_service_server::MetricsService;

/// Implements `MetricsService`.
pub struct MetricsApi;

#[tonic::async_trait]
impl MetricsService for MetricsApi {}
