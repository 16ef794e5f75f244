//! Queries on `stages`, and the per-stage opportunity figures listings show.

use super::entities::{opportunities as o, stages as s};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult,
    QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Alias, Expr, ExprTrait, Func},
};
use std::collections::HashMap;

/// Stages of the given pipelines, by pipeline then position.
pub async fn of_pipelines<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    pipeline_ids: &[String],
) -> Result<Vec<s::Model>, DbErr> {
    if pipeline_ids.is_empty() {
        return Ok(Vec::new());
    }
    s::Entity::find()
        .filter(s::Column::WorkspaceId.eq(workspace_id))
        .filter(s::Column::PipelineId.is_in(pipeline_ids.iter().cloned()))
        .order_by_asc(s::Column::PipelineId)
        .order_by_asc(s::Column::Position)
        .all(conn)
        .await
}

/// Stages by id (any pipeline of the workspace).
pub async fn by_ids<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    ids: &[String],
) -> Result<Vec<s::Model>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    s::Entity::find()
        .filter(s::Column::WorkspaceId.eq(workspace_id))
        .filter(s::Column::Id.is_in(ids.iter().cloned()))
        .all(conn)
        .await
}

/// One stage of the workspace.
pub async fn find<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    id: &str,
) -> Result<Option<s::Model>, DbErr> {
    s::Entity::find_by_id(id)
        .filter(s::Column::WorkspaceId.eq(workspace_id))
        .one(conn)
        .await
}

/// How many stages a pipeline has.
pub async fn count<C: ConnectionTrait>(conn: &C, pipeline_id: &str) -> Result<i32, DbErr> {
    use sea_orm::PaginatorTrait;
    Ok(s::Entity::find()
        .filter(s::Column::PipelineId.eq(pipeline_id))
        .count(conn)
        .await? as i32)
}

/// Adds `delta` to the position of the pipeline's stages with position in `from..=to`.
pub async fn shift<C: ConnectionTrait>(
    conn: &C,
    pipeline_id: &str,
    from: i32,
    to: i32,
    delta: i32,
) -> Result<(), DbErr> {
    s::Entity::update_many()
        .col_expr(
            s::Column::Position,
            Expr::col(s::Column::Position).add(delta),
        )
        .filter(s::Column::PipelineId.eq(pipeline_id))
        .filter(s::Column::Position.gte(from))
        .filter(s::Column::Position.lte(to))
        .exec(conn)
        .await?;
    Ok(())
}

/// Inserts or updates a stage.
pub async fn save<C: ConnectionTrait>(conn: &C, model: s::ActiveModel) -> Result<s::Model, DbErr> {
    if model.id.is_unchanged() {
        model.update(conn).await
    } else {
        model.insert(conn).await
    }
}

/// Deletes a stage.
pub async fn delete<C: ConnectionTrait>(conn: &C, id: &str) -> Result<(), DbErr> {
    s::Entity::delete_by_id(id).exec(conn).await?;
    Ok(())
}

/// Live opportunities and their summed amount (minor units) in one stage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Figures {
    /// Opportunities not archived.
    pub count: i64,
    /// Sum of their amounts, in minor units. An `i128`: 9 224 opportunities at the largest
    /// accepted amount already exceed an `i64`.
    pub total_cents: i128,
}

/// Amounts are summed in two parts, `amount / SPLIT` and `amount % SPLIT`, each of which
/// stays far inside a BIGINT for any realistic row count (with amounts at most
/// [`crate::domain::input::MAX_AMOUNT_CENTS`] = 10^15, the high parts are at most 10^6 and
/// the low parts below 10^9, so either sum needs over 9·10^9 rows to overflow). One
/// `SUM(amount_cents)` overflowed SQLite's 64-bit integer (an error, so a 500) at 9 224
/// opportunities of the largest amount, and Postgres' would have overflowed our cast back to
/// BIGINT. Both parts are plain integer arithmetic on both backends, so the query is still
/// answered from `idx_opportunities_stage_amount` alone; Rust joins them in an `i128`.
const SPLIT: i64 = 1_000_000_000;

/// Figures per stage for the given stages, in one grouped query.
pub async fn figures<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    stage_ids: &[String],
) -> Result<HashMap<String, Figures>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        stage_id: String,
        n: i64,
        high: Option<i64>,
        low: Option<i64>,
    }
    if stage_ids.is_empty() {
        return Ok(HashMap::new());
    }
    // SUM(bigint) is numeric on Postgres: cast back so both backends give an i64.
    let part_sum = |part: Expr| Expr::expr(Func::cast_as(Func::sum(part), Alias::new("BIGINT")));
    let rows = o::Entity::find()
        .select_only()
        .column(o::Column::StageId)
        .column_as(o::Column::Id.count(), "n")
        .column_as(
            part_sum(Expr::col(o::Column::AmountCents).div(SPLIT)),
            "high",
        )
        .column_as(
            part_sum(Expr::col(o::Column::AmountCents).modulo(SPLIT)),
            "low",
        )
        .filter(o::Column::WorkspaceId.eq(workspace_id))
        .filter(o::Column::StageId.is_in(stage_ids.iter().cloned()))
        .filter(o::Column::ArchivedAt.is_null())
        .group_by(o::Column::StageId)
        .into_model::<Row>()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                r.stage_id,
                Figures {
                    count: r.n,
                    total_cents: i128::from(r.high.unwrap_or(0)) * i128::from(SPLIT)
                        + i128::from(r.low.unwrap_or(0)),
                },
            )
        })
        .collect())
}
