//! The `api_keys` table. Rows are never physically removed: deleting sets `deleted_at` so
//! the audit trail (who made it, when it was used) stays.

use super::{ChunkedSql, db_error, entities::api_keys, values_placeholders};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, Value,
};
use std::sync::OnceLock;
use tonic::Status;

pub use api_keys::{ActiveModel, Model};

/// Inserts a new key row.
pub async fn insert(db: &impl ConnectionTrait, key: ActiveModel) -> Result<Model, Status> {
    key.insert(db).await.map_err(db_error("insert api key"))
}

/// Keys of a workspace that are not deleted, newest first; only `owner`'s when given.
pub async fn list(
    db: &DatabaseConnection,
    workspace_id: &str,
    owner: Option<&str>,
) -> Result<Vec<Model>, Status> {
    let mut cond = Condition::all()
        .add(api_keys::Column::WorkspaceId.eq(workspace_id))
        .add(api_keys::Column::DeletedAt.is_null());
    if let Some(owner) = owner {
        cond = cond.add(api_keys::Column::UserId.eq(owner));
    }
    api_keys::Entity::find()
        .filter(cond)
        .order_by_desc(api_keys::Column::CreatedAt)
        .all(db)
        .await
        .map_err(db_error("list api keys"))
}

/// One key of a workspace, unless deleted.
pub async fn get(
    db: &DatabaseConnection,
    workspace_id: &str,
    id: &str,
) -> Result<Option<Model>, Status> {
    api_keys::Entity::find()
        .filter(api_keys::Column::WorkspaceId.eq(workspace_id))
        .filter(api_keys::Column::Id.eq(id))
        .filter(api_keys::Column::DeletedAt.is_null())
        .one(db)
        .await
        .map_err(db_error("get api key"))
}

/// Saves changed columns of a key (the workspace is part of the loaded model).
pub async fn save(db: &impl ConnectionTrait, key: ActiveModel) -> Result<Model, Status> {
    key.update(db).await.map_err(db_error("update api key"))
}

/// How many usable keys (not revoked, deleted or expired) a member holds in a workspace,
/// their API clients' keys aside.
pub async fn count_usable_of_user(
    db: &impl ConnectionTrait,
    workspace_id: &str,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<u64, sea_orm::DbErr> {
    use sea_orm::PaginatorTrait;
    api_keys::Entity::find()
        .filter(api_keys::Column::WorkspaceId.eq(workspace_id))
        .filter(api_keys::Column::UserId.eq(user_id))
        .filter(api_keys::Column::ClientId.is_null())
        .filter(api_keys::Column::RevokedAt.is_null())
        .filter(api_keys::Column::DeletedAt.is_null())
        .filter(
            Condition::any()
                .add(api_keys::Column::ExpiresAt.is_null())
                .add(api_keys::Column::ExpiresAt.gt(now)),
        )
        .count(db)
        .await
}

/// Looks a key up by hash (global: the hash is the credential; the workspace comes from it).
pub async fn find_by_hash_global(
    db: &DatabaseConnection,
    key_hash: &str,
) -> Result<Option<Model>, Status> {
    api_keys::Entity::find()
        .filter(api_keys::Column::KeyHash.eq(key_hash))
        .one(db)
        .await
        .map_err(db_error("find api key by hash"))
}

/// Keys of one API client that are not deleted, newest first.
pub async fn list_by_client(
    db: &DatabaseConnection,
    workspace_id: &str,
    client_id: &str,
) -> Result<Vec<Model>, Status> {
    api_keys::Entity::find()
        .filter(api_keys::Column::WorkspaceId.eq(workspace_id))
        .filter(api_keys::Column::ClientId.eq(client_id))
        .filter(api_keys::Column::DeletedAt.is_null())
        .order_by_desc(api_keys::Column::CreatedAt)
        .all(db)
        .await
        .map_err(db_error("list client api keys"))
}

/// Ids of every key a client ever had (deleted ones too: their usage still counts).
pub async fn ids_by_client(
    db: &DatabaseConnection,
    workspace_id: &str,
    client_id: &str,
) -> Result<Vec<String>, Status> {
    api_keys::Entity::find()
        .select_only()
        .column(api_keys::Column::Id)
        .filter(api_keys::Column::WorkspaceId.eq(workspace_id))
        .filter(api_keys::Column::ClientId.eq(client_id))
        .into_tuple()
        .all(db)
        .await
        .map_err(db_error("list client api key ids"))
}

/// Looks a key up by the hash of the secret its last regeneration replaced (global, like
/// [`find_by_hash_global`]).
pub async fn find_by_previous_hash_global(
    db: &DatabaseConnection,
    key_hash: &str,
) -> Result<Option<Model>, Status> {
    api_keys::Entity::find()
        .filter(api_keys::Column::PreviousKeyHash.eq(key_hash))
        .one(db)
        .await
        .map_err(db_error("find api key by previous hash"))
}

/// One key's use since a gateway's last report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUse {
    /// Workspace of the key.
    pub workspace_id: String,
    /// The key.
    pub key_id: String,
    /// Requests made with it.
    pub requests: i64,
    /// When it was last used.
    pub at: DateTime<Utc>,
}

/// Keys per `UPDATE`.
const KEYS_PER_UPDATE: usize = 100;

/// `UPDATE api_keys ... FROM (VALUES ...)` for `rows` keys (`column1`..`column4` are the
/// names SQLite and Postgres both give the columns of a `VALUES` list).
fn usage_sql(backend: DbBackend, rows: usize) -> String {
    format!(
        "UPDATE api_keys SET last_used_at = v.column4, \
         request_count = api_keys.request_count + v.column3 \
         FROM (VALUES {}) AS v \
         WHERE api_keys.workspace_id = v.column1 AND api_keys.id = v.column2",
        values_placeholders(backend, rows, 4)
    )
}

/// Records the use of keys a gateway reports: bumps `last_used_at` and the request count,
/// for all of them in one transaction of a few statements. One statement per key, each its
/// own commit, cost a disk sync per key on SQLite every report when many keys are busy.
/// Keys are updated in (workspace, key) order so that two gateways reporting at once take
/// row locks in the same order on Postgres instead of deadlocking.
pub async fn record_usage(db: &DatabaseConnection, mut usage: Vec<KeyUse>) -> Result<(), Status> {
    static UPDATE: ChunkedSql = ChunkedSql {
        rows_per_statement: KEYS_PER_UPDATE,
        sql: usage_sql,
        full: [OnceLock::new(), OnceLock::new()],
        context: "record api key usage",
    };
    usage.sort_by(|a, b| (&a.workspace_id, &a.key_id).cmp(&(&b.workspace_id, &b.key_id)));
    // A key reported twice in one batch counts twice; an UPDATE would apply only one row.
    usage.dedup_by(|later, kept| {
        let same = later.workspace_id == kept.workspace_id && later.key_id == kept.key_id;
        if same {
            kept.requests += later.requests;
            kept.at = kept.at.max(later.at);
        }
        same
    });
    UPDATE
        .run(db, usage, |u| -> [Value; 4] {
            [
                u.workspace_id.into(),
                u.key_id.into(),
                u.requests.into(),
                u.at.into(),
            ]
        })
        .await
}
