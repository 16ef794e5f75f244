//! The calls a hook received, as its owner reads them.

use super::hooks::{self, page_limit, parse_uuid};
use crate::domain::{WebhooksState, db_error};
use crate::store::incoming_logs::{self as store, IncomingLogRow};
use tonic::Status;

/// One page of calls, and the cursor of the next when there is one.
pub struct LogPage {
    pub logs: Vec<IncomingLogRow>,
    pub next_cursor: Option<String>,
}

/// A hook's calls, newest first, a page at a time.
pub async fn list(
    state: &WebhooksState,
    workspace_id: &str,
    webhook_id: &str,
    cursor: Option<&str>,
    limit: Option<i32>,
) -> Result<LogPage, Status> {
    let cursor = cursor.map(|c| parse_uuid("cursor", c)).transpose()?;
    let limit = page_limit(limit)?;
    let hook = hooks::get(state, workspace_id, webhook_id).await?;
    let mut rows = store::list(
        &state.db,
        workspace_id,
        &hook.id,
        cursor.as_deref(),
        limit + 1,
    )
    .await
    .map_err(db_error("list incoming webhook logs"))?;
    let next_cursor = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.id.clone())
    } else {
        None
    };
    Ok(LogPage {
        logs: rows,
        next_cursor,
    })
}
