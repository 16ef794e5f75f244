//! `message_send_windows`: how many jobs each workspace's channel has started in each second,
//! shared by the workers of every process so a channel's limit holds across them.

use sea_orm::{
    ConnectionTrait, DbErr,
    sea_query::{Alias, Expr, ExprTrait, OnConflict, Query},
};

const TABLE: &str = "message_send_windows";

fn col(name: &str) -> Alias {
    Alias::new(name)
}

/// Counts one more job for the workspace's channel in `second` if fewer than `limit` were
/// counted; false when the second's budget is spent. One statement (an upsert whose update
/// is conditional), so concurrent claimers never count past the limit.
pub async fn take<Db: ConnectionTrait>(
    db: &Db,
    workspace_id: &str,
    channel: &str,
    second: i64,
    limit: u32,
) -> Result<bool, DbErr> {
    let insert = Query::insert()
        .into_table(col(TABLE))
        .columns([
            col("workspace_id"),
            col("channel"),
            col("second"),
            col("sent"),
        ])
        .values_panic([
            workspace_id.into(),
            channel.into(),
            second.into(),
            1i32.into(),
        ])
        .on_conflict(
            OnConflict::columns([col("workspace_id"), col("channel"), col("second")])
                .value(col("sent"), Expr::col((col(TABLE), col("sent"))).add(1))
                .action_and_where(Expr::col((col(TABLE), col("sent"))).lt(limit as i32))
                .to_owned(),
        )
        .to_owned();
    Ok(db.execute(&insert).await?.rows_affected() == 1)
}

/// Gives back a count taken for a job that was not claimed after all.
pub async fn give_back<Db: ConnectionTrait>(
    db: &Db,
    workspace_id: &str,
    channel: &str,
    second: i64,
) -> Result<(), DbErr> {
    let update = Query::update()
        .table(col(TABLE))
        .value(col("sent"), Expr::col(col("sent")).sub(1))
        .and_where(Expr::col(col("workspace_id")).eq(workspace_id))
        .and_where(Expr::col(col("channel")).eq(channel))
        .and_where(Expr::col(col("second")).eq(second))
        .to_owned();
    db.execute(&update).await?;
    Ok(())
}

/// Deletes the counts of seconds before `second`, of every workspace (they pace nothing any
/// more).
pub async fn prune_across_workspaces<Db: ConnectionTrait>(
    db: &Db,
    second: i64,
) -> Result<u64, DbErr> {
    let delete = Query::delete()
        .from_table(col(TABLE))
        .and_where(Expr::col(col("second")).lt(second))
        .to_owned();
    Ok(db.execute(&delete).await?.rows_affected())
}
