//! `incoming_webhook_calls`: per-hook call counts per minute, for the rate limit. Kept in the
//! database so every replica of svc-webhooks (and so every gateway) shares one count.

use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, Statement};

/// Counts one call of hook `webhook_id` in the minute `window` (unix minutes) and returns the
/// calls counted in it so far, this one included. One statement, so concurrent calls on
/// several replicas each see a distinct count. Windows two or more minutes old are removed
/// on the way.
pub async fn count_call_global<Db: ConnectionTrait>(
    db: &Db,
    webhook_id: &str,
    window: i64,
) -> Result<i64, DbErr> {
    let backend = db.get_database_backend();
    let (upsert, prune) = match backend {
        DatabaseBackend::Postgres => (
            "INSERT INTO incoming_webhook_calls (webhook_id, window_start, calls) VALUES ($1, $2, 1) \
             ON CONFLICT (webhook_id, window_start) DO UPDATE SET calls = incoming_webhook_calls.calls + 1 \
             RETURNING calls",
            "DELETE FROM incoming_webhook_calls WHERE webhook_id = $1 AND window_start < $2",
        ),
        _ => (
            "INSERT INTO incoming_webhook_calls (webhook_id, window_start, calls) VALUES (?, ?, 1) \
             ON CONFLICT (webhook_id, window_start) DO UPDATE SET calls = incoming_webhook_calls.calls + 1 \
             RETURNING calls",
            "DELETE FROM incoming_webhook_calls WHERE webhook_id = ? AND window_start < ?",
        ),
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            upsert,
            [webhook_id.into(), window.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("call counter".into()))?;
    let calls: i32 = row.try_get("", "calls")?;
    if calls == 1 {
        // First call of a window: drop the hook's older windows.
        db.execute_raw(Statement::from_sql_and_values(
            backend,
            prune,
            [webhook_id.into(), (window - 1).into()],
        ))
        .await?;
    }
    Ok(calls.into())
}
