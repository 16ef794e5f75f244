//! Counts of records assigned to members, per member. Both queries match the partial
//! indexes of migration m0002 term for term, so they are answered from the index alone.

use sea_orm::{ConnectionTrait, DbErr, Statement, Value};
use std::collections::HashMap;

/// Open opportunities (not closed, not archived) per assignee among `user_ids`.
pub async fn open_opportunities(
    db: &impl ConnectionTrait,
    workspace_id: &str,
    user_ids: &[String],
) -> Result<HashMap<String, u64>, DbErr> {
    per_assignee(
        db,
        "SELECT assigned_to, COUNT(*) FROM opportunities WHERE workspace_id = {ws} \
         AND assigned_to IN ({ids}) AND archived_at IS NULL AND NOT is_closed \
         GROUP BY assigned_to",
        workspace_id,
        user_ids,
    )
    .await
}

/// Live (not deleted) contacts per assignee among `user_ids`.
pub async fn live_contacts(
    db: &impl ConnectionTrait,
    workspace_id: &str,
    user_ids: &[String],
) -> Result<HashMap<String, u64>, DbErr> {
    per_assignee(
        db,
        "SELECT assigned_to, COUNT(*) FROM contacts WHERE workspace_id = {ws} \
         AND assigned_to IN ({ids}) AND deleted_at IS NULL GROUP BY assigned_to",
        workspace_id,
        user_ids,
    )
    .await
}

/// Runs `template` with `{ws}` and `{ids}` replaced by placeholders of the backend's style.
async fn per_assignee(
    db: &impl ConnectionTrait,
    template: &str,
    workspace_id: &str,
    user_ids: &[String],
) -> Result<HashMap<String, u64>, DbErr> {
    let backend = db.get_database_backend();
    let placeholder = |n: usize| match backend {
        sea_orm::DatabaseBackend::Postgres => format!("${n}"),
        _ => "?".to_owned(),
    };
    let ids = (0..user_ids.len())
        .map(|i| placeholder(i + 2))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = template
        .replace("{ws}", &placeholder(1))
        .replace("{ids}", &ids);
    let mut values: Vec<Value> = Vec::with_capacity(user_ids.len() + 1);
    values.push(workspace_id.into());
    values.extend(user_ids.iter().map(|id| Value::from(id.as_str())));
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    let mut counts = HashMap::with_capacity(rows.len());
    for row in rows {
        let id: String = row.try_get_by_index(0)?;
        let n: i64 = row.try_get_by_index(1)?;
        counts.insert(id, u64::try_from(n).unwrap_or(0));
    }
    Ok(counts)
}
