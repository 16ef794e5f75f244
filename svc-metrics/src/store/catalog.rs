//! The workspace's pipelines and stages: names and positions the figures are reported under.

use super::PipelineDb;
use sea_orm::DbErr;

/// A pipeline as the metrics name it.
#[derive(Clone, Debug)]
pub struct PipelineRow {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
}

/// A stage as the metrics name and order it.
#[derive(Clone, Debug)]
pub struct StageRow {
    pub id: String,
    pub pipeline_id: String,
    pub name: String,
    pub position: i32,
}

impl PipelineDb {
    /// The workspace's pipelines that are not deleted, oldest first.
    pub async fn pipelines(&self, workspace_id: &str) -> Result<Vec<PipelineRow>, DbErr> {
        let rows = self
            .rows(
                "SELECT id, name, description FROM pipelines \
                 WHERE workspace_id = $1 AND deleted_at IS NULL ORDER BY created_at, id",
                vec![workspace_id.into()],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(PipelineRow {
                    id: r.try_get("", "id")?,
                    name: r.try_get("", "name")?,
                    description: r.try_get("", "description")?,
                })
            })
            .collect()
    }

    /// The workspace's stages, by pipeline and position.
    pub async fn stages(&self, workspace_id: &str) -> Result<Vec<StageRow>, DbErr> {
        let rows = self
            .rows(
                "SELECT id, pipeline_id, name, position FROM stages \
                 WHERE workspace_id = $1 ORDER BY pipeline_id, position, id",
                vec![workspace_id.into()],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(StageRow {
                    id: r.try_get("", "id")?,
                    pipeline_id: r.try_get("", "pipeline_id")?,
                    name: r.try_get("", "name")?,
                    position: r.try_get("", "position")?,
                })
            })
            .collect()
    }
}
