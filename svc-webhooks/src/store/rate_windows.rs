//! `webhook_rate_windows`: how many sends a subscription made in the current second, shared
//! by every worker process, so its rate limit holds however many processes deliver.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};

/// Takes one send out of the subscription's allowance for Unix second `second`; false when
/// `limit` sends were made in that second already. One statement, so concurrent workers can
/// never both take the last one.
pub async fn take_across_workspaces(
    db: &DatabaseConnection,
    subscription_id: &str,
    second: i64,
    limit: i32,
) -> Result<bool, DbErr> {
    let sql = "INSERT INTO webhook_rate_windows (subscription_id, window_start, sent) \
               VALUES ($1, $2, 1) \
               ON CONFLICT (subscription_id) DO UPDATE SET \
               sent = CASE WHEN webhook_rate_windows.window_start = excluded.window_start \
                      THEN webhook_rate_windows.sent + 1 ELSE 1 END, \
               window_start = excluded.window_start \
               WHERE webhook_rate_windows.window_start <> excluded.window_start \
               OR webhook_rate_windows.sent < $3";
    let statement = super::statement(
        db,
        sql,
        [subscription_id.into(), second.into(), limit.into()],
    );
    Ok(db.execute_raw(statement).await?.rows_affected() == 1)
}
