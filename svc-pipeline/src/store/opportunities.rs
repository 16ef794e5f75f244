//! Queries on `opportunities`, their history and activities.

use super::contains_ignoring_case;
use super::entities::{opportunities as o, opportunity_activities as a, opportunity_history as h};
use chrono::NaiveDate;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Select, sea_query::Expr,
};

/// What a list may be filtered by; every field narrows.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub pipeline_id: Option<String>,
    pub stage_id: Option<String>,
    pub contact_id: Option<String>,
    pub priority: Option<String>,
    pub is_closed: Option<bool>,
    /// Lowercased; matched anywhere in title or description.
    pub search: Option<String>,
    pub min_cents: Option<i64>,
    pub max_cents: Option<i64>,
    pub close_from: Option<NaiveDate>,
    pub close_to: Option<NaiveDate>,
}

fn filtered(workspace_id: &str, f: &Filter) -> Select<o::Entity> {
    let mut q = o::Entity::find()
        .filter(o::Column::WorkspaceId.eq(workspace_id))
        .filter(o::Column::ArchivedAt.is_null());
    if let Some(v) = &f.pipeline_id {
        q = q.filter(o::Column::PipelineId.eq(v.as_str()));
    }
    if let Some(v) = &f.stage_id {
        q = q.filter(o::Column::StageId.eq(v.as_str()));
    }
    if let Some(v) = &f.contact_id {
        q = q.filter(o::Column::ContactId.eq(v.as_str()));
    }
    if let Some(v) = &f.priority {
        q = q.filter(o::Column::Priority.eq(v.as_str()));
    }
    if let Some(v) = f.is_closed {
        q = q.filter(o::Column::IsClosed.eq(v));
    }
    if let Some(v) = f.min_cents {
        q = q.filter(o::Column::AmountCents.gte(v));
    }
    if let Some(v) = f.max_cents {
        q = q.filter(o::Column::AmountCents.lte(v));
    }
    if let Some(v) = f.close_from {
        q = q.filter(o::Column::ExpectedCloseDate.gte(v));
    }
    if let Some(v) = f.close_to {
        q = q.filter(o::Column::ExpectedCloseDate.lte(v));
    }
    if let Some(term) = &f.search {
        q = q.filter(
            Condition::any()
                .add(contains_ignoring_case(o::Column::Title, term))
                .add(contains_ignoring_case(o::Column::Description, term)),
        );
    }
    q
}

/// One page of matching opportunities, newest first, and the total number of matches: two
/// queries whatever the page size.
pub async fn page<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    filter: &Filter,
    offset: u64,
    limit: u64,
) -> Result<(Vec<o::Model>, u64), DbErr> {
    let total: i64 = count_query(workspace_id, filter)
        .into_tuple()
        .one(conn)
        .await?
        .unwrap_or(0);
    let total = u64::try_from(total).unwrap_or(0);
    if total == 0 || offset >= total {
        return Ok((Vec::new(), total));
    }
    let rows = page_query(workspace_id, filter, offset, limit)
        .all(conn)
        .await?;
    Ok((rows, total))
}

/// `COUNT(*)`, not of a column: with nothing to read but the index's own columns, Postgres
/// answers it with an index-only scan of `idx_opportunities_stage_amount`.
fn count_query(workspace_id: &str, filter: &Filter) -> Select<o::Entity> {
    filtered(workspace_id, filter)
        .select_only()
        .column_as(Expr::cust("COUNT(*)"), "n")
}

fn page_query(workspace_id: &str, filter: &Filter, offset: u64, limit: u64) -> Select<o::Entity> {
    filtered(workspace_id, filter)
        .order_by_desc(o::Column::CreatedAt)
        .order_by_desc(o::Column::Id)
        .offset(offset)
        .limit(limit)
}

/// The SQL of a list's count and page queries, for `EXPLAIN` in the benchmark.
pub fn list_sql(
    backend: sea_orm::DatabaseBackend,
    workspace_id: &str,
    filter: &Filter,
    offset: u64,
    limit: u64,
) -> (String, String) {
    use sea_orm::QueryTrait;
    let count = count_query(workspace_id, filter).build(backend).to_string();
    let page = page_query(workspace_id, filter, offset, limit)
        .build(backend)
        .to_string();
    (count, page)
}

/// One live opportunity of the workspace.
pub async fn find<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    id: &str,
) -> Result<Option<o::Model>, DbErr> {
    o::Entity::find_by_id(id)
        .filter(o::Column::WorkspaceId.eq(workspace_id))
        .filter(o::Column::ArchivedAt.is_null())
        .one(conn)
        .await
}

/// Takes the opportunity's row lock as the transaction's first statement (see
/// `pipelines::lock`); false when it does not exist (or is archived) in the workspace.
pub async fn lock<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    id: &str,
) -> Result<bool, DbErr> {
    let result = o::Entity::update_many()
        .col_expr(o::Column::Id, Expr::col(o::Column::Id))
        .filter(o::Column::Id.eq(id))
        .filter(o::Column::WorkspaceId.eq(workspace_id))
        .filter(o::Column::ArchivedAt.is_null())
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Live opportunities in a stage.
pub async fn in_stage<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    stage_id: &str,
) -> Result<Vec<o::Model>, DbErr> {
    o::Entity::find()
        .filter(o::Column::WorkspaceId.eq(workspace_id))
        .filter(o::Column::StageId.eq(stage_id))
        .filter(o::Column::ArchivedAt.is_null())
        .all(conn)
        .await
}

/// Inserts or updates an opportunity.
pub async fn save<C: ConnectionTrait>(conn: &C, model: o::ActiveModel) -> Result<o::Model, DbErr> {
    if model.id.is_unchanged() {
        model.update(conn).await
    } else {
        model.insert(conn).await
    }
}

/// Appends history rows.
pub async fn add_history<C: ConnectionTrait>(
    conn: &C,
    rows: Vec<h::ActiveModel>,
) -> Result<(), DbErr> {
    if !rows.is_empty() {
        h::Entity::insert_many(rows).exec(conn).await?;
    }
    Ok(())
}

/// Appends activity rows.
pub async fn add_activities<C: ConnectionTrait>(
    conn: &C,
    rows: Vec<a::ActiveModel>,
) -> Result<(), DbErr> {
    if !rows.is_empty() {
        a::Entity::insert_many(rows).exec(conn).await?;
    }
    Ok(())
}

/// An opportunity's history, oldest first.
pub async fn history<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    opportunity_id: &str,
) -> Result<Vec<h::Model>, DbErr> {
    h::Entity::find()
        .filter(h::Column::WorkspaceId.eq(workspace_id))
        .filter(h::Column::OpportunityId.eq(opportunity_id))
        .order_by_asc(h::Column::ChangedAt)
        .order_by_asc(h::Column::Id)
        .all(conn)
        .await
}

/// The latest change of one field.
pub async fn last_change<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    opportunity_id: &str,
    field: &str,
) -> Result<Option<h::Model>, DbErr> {
    h::Entity::find()
        .filter(h::Column::WorkspaceId.eq(workspace_id))
        .filter(h::Column::OpportunityId.eq(opportunity_id))
        .filter(h::Column::FieldChanged.eq(field))
        .order_by_desc(h::Column::ChangedAt)
        .order_by_desc(h::Column::Id)
        .one(conn)
        .await
}

/// An opportunity's activities, newest first.
pub async fn activities<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    opportunity_id: &str,
) -> Result<Vec<a::Model>, DbErr> {
    a::Entity::find()
        .filter(a::Column::WorkspaceId.eq(workspace_id))
        .filter(a::Column::OpportunityId.eq(opportunity_id))
        .order_by_desc(a::Column::CreatedAt)
        .order_by_desc(a::Column::Id)
        .limit(200)
        .all(conn)
        .await
}
