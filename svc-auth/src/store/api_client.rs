//! The `api_clients` table. Deleting sets `deleted_at`; the row stays so the usage of its
//! keys keeps a name.

use super::{db_error, entities::api_clients};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait, Func},
};
use tonic::Status;

pub use api_clients::{ActiveModel, Model};

/// List filters.
#[derive(Debug, Default)]
pub struct ClientFilter {
    /// Exact status.
    pub status: Option<String>,
    /// Exact tier.
    pub tier: Option<String>,
    /// Exact contact email (lower-cased).
    pub contact_email: Option<String>,
    /// Lower-cased substring of name or contact email.
    pub search: Option<String>,
}

/// Inserts a client.
pub async fn insert(db: &impl ConnectionTrait, client: ActiveModel) -> Result<Model, Status> {
    client
        .insert(db)
        .await
        .map_err(db_error("insert api client"))
}

/// Saves changed columns.
pub async fn save(db: &impl ConnectionTrait, client: ActiveModel) -> Result<Model, Status> {
    client
        .update(db)
        .await
        .map_err(db_error("update api client"))
}

/// One client of a workspace, unless deleted.
pub async fn get(
    db: &DatabaseConnection,
    workspace_id: &str,
    id: &str,
) -> Result<Option<Model>, Status> {
    api_clients::Entity::find()
        .filter(api_clients::Column::WorkspaceId.eq(workspace_id))
        .filter(api_clients::Column::Id.eq(id))
        .filter(api_clients::Column::DeletedAt.is_null())
        .one(db)
        .await
        .map_err(db_error("get api client"))
}

/// A client by id for key validation (global: the key row names it), deleted ones included.
pub async fn get_global(db: &DatabaseConnection, id: &str) -> Result<Option<Model>, Status> {
    api_clients::Entity::find_by_id(id.to_owned())
        .one(db)
        .await
        .map_err(db_error("get api client"))
}

/// A page of a workspace's clients, newest first, and the total.
pub async fn list(
    db: &DatabaseConnection,
    workspace_id: &str,
    f: &ClientFilter,
    page: u64,
    limit: u64,
) -> Result<(Vec<Model>, u64), Status> {
    let mut c = Condition::all()
        .add(api_clients::Column::WorkspaceId.eq(workspace_id))
        .add(api_clients::Column::DeletedAt.is_null());
    if let Some(s) = &f.status {
        c = c.add(api_clients::Column::Status.eq(s.clone()));
    }
    if let Some(t) = &f.tier {
        c = c.add(api_clients::Column::RateLimitTier.eq(t.clone()));
    }
    if let Some(e) = &f.contact_email {
        c = c.add(api_clients::Column::ContactEmail.eq(e.clone()));
    }
    if let Some(q) = &f.search {
        let pattern = format!("%{q}%");
        c = c.add(
            Condition::any()
                .add(Expr::expr(Func::lower(Expr::col(api_clients::Column::Name))).like(&pattern))
                .add(api_clients::Column::ContactEmail.like(&pattern)),
        );
    }
    let total = api_clients::Entity::find()
        .filter(c.clone())
        .count(db)
        .await
        .map_err(db_error("count api clients"))?;
    let rows = api_clients::Entity::find()
        .filter(c)
        .order_by_desc(api_clients::Column::CreatedAt)
        .order_by_desc(api_clients::Column::Id)
        .offset((page - 1) * limit)
        .limit(limit)
        .all(db)
        .await
        .map_err(db_error("list api clients"))?;
    Ok((rows, total))
}
