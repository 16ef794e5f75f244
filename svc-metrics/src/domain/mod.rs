//! Pipeline analytics: each request resolves the workspace's timezone and currency, its
//! pipeline and stage, and the range, then asks the store for grouped figures and turns them
//! into the answer. Definitions: docs/metrics.md. API usage is in [`usage`].

pub mod legacy;
pub mod numbers;
pub mod range;
pub mod report;
pub mod usage;

use crate::error::MetricsError;
use crate::store::{
    PipelineDb,
    catalog::{PipelineRow, StageRow},
};
use chrono_tz::Tz;
use crm_platform::workspaces::WorkspaceProfiles;

/// What every request needs: svc-pipeline's data and svc-auth's workspace settings.
#[derive(Clone)]
pub struct MetricsState {
    pub db: PipelineDb,
    pub profiles: WorkspaceProfiles,
}

/// The settings figures depend on.
#[derive(Clone, Debug)]
pub struct Settings {
    pub tz: Tz,
    /// The currency of the money figures that are not per currency.
    pub currency: String,
}

impl MetricsState {
    /// The workspace's timezone and default currency (from svc-auth). A zone name this
    /// build does not know falls back to UTC rather than failing every request.
    pub async fn settings(&self, workspace_id: &str) -> Result<Settings, MetricsError> {
        let profile = self
            .profiles
            .get(workspace_id)
            .await
            .map_err(MetricsError::Profile)?;
        let tz = profile.timezone.parse::<Tz>().unwrap_or_else(|_| {
            tracing::warn!(timezone = %profile.timezone, "unknown workspace timezone; using UTC");
            Tz::UTC
        });
        Ok(Settings {
            tz,
            currency: profile.default_currency.to_ascii_uppercase(),
        })
    }

    /// The workspace's pipelines and stages.
    pub async fn catalog(&self, workspace_id: &str) -> Result<Catalog, MetricsError> {
        let (pipelines, stages) = tokio::try_join!(
            self.db.pipelines(workspace_id),
            self.db.stages(workspace_id)
        )
        .map_err(MetricsError::db("reading pipelines and stages"))?;
        Ok(Catalog { pipelines, stages })
    }
}

/// The workspace's pipelines (oldest first) and stages (by pipeline and position).
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    pub pipelines: Vec<PipelineRow>,
    pub stages: Vec<StageRow>,
}

impl Catalog {
    pub fn pipeline(&self, id: &str) -> Option<&PipelineRow> {
        self.pipelines.iter().find(|p| p.id == id)
    }

    /// The stages of a pipeline, by position.
    pub fn stages_of(&self, pipeline_id: &str) -> Vec<&StageRow> {
        let mut stages: Vec<&StageRow> = self
            .stages
            .iter()
            .filter(|s| s.pipeline_id == pipeline_id)
            .collect();
        stages.sort_by_key(|s| s.position);
        stages
    }
}

/// An optional id parameter: empty, or a UUID (lowercased, as svc-pipeline stores them).
pub fn optional_id(field: &'static str, raw: &str) -> Result<Option<String>, MetricsError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    uuid::Uuid::parse_str(raw)
        .map(|u| Some(u.to_string()))
        .map_err(|_| MetricsError::invalid(field, "must be a UUID"))
}

/// The seed's `workspace_id` parameter: accepted when it names the caller's own workspace.
pub fn check_workspace(caller: &str, given: &str) -> Result<(), MetricsError> {
    let given = given.trim();
    if given.is_empty() || given.eq_ignore_ascii_case(caller) {
        Ok(())
    } else {
        Err(MetricsError::ForeignWorkspace)
    }
}
