//! `crm.pipeline.v1.PipelineService`.

use crm_proto::pipeline::pipeline_service_server::PipelineService;

/// Implements `PipelineService`.
pub struct PipelineApi;

#[tonic::async_trait]
impl PipelineService for PipelineApi {}
