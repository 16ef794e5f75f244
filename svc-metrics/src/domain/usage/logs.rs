//! A key's request log (seed 002 "View request logs"): filtered, newest first, by page
//! number or by cursor. A cursor names the last row of the previous page, so paging by
//! cursor reaches every stored request however old.

use super::{UsageState, ceil_ms};
use crate::error::MetricsError;
use crate::store::usage::request_log::{LogFilter, LogPosition, LogRow};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};

/// Longest page.
pub const MAX_PAGE_SIZE: u32 = 100;
/// Page size when none is asked for.
pub const DEFAULT_PAGE_SIZE: u32 = 20;

/// A log request's filters and position, as the caller sent them.
#[derive(Clone, Debug, Default)]
pub struct LogQuery {
    /// Status code, class (`4xx`), `success` or `error`.
    pub status: String,
    pub method: String,
    /// Endpoint substring.
    pub endpoint: String,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// 1-based; 0 means 1.
    pub page: u32,
    /// 0 means [`DEFAULT_PAGE_SIZE`].
    pub limit: u32,
    /// The previous page's `next_cursor`; empty for the first page.
    pub cursor: String,
}

/// One page of the log.
#[derive(Clone, Debug)]
pub struct LogPage {
    /// Newest first.
    pub rows: Vec<LogRow>,
    pub page: u32,
    pub limit: u32,
    /// Requests matching the filters in all.
    pub total: u64,
    /// Where the next page starts; empty when no row follows.
    pub next_cursor: String,
}

/// The status filter as an inclusive range of codes.
pub fn status_range(status: &str) -> Result<Option<(i32, i32)>, MetricsError> {
    let bad = || {
        MetricsError::invalid(
            "status",
            "must be a status code (404), a class (4xx), 'success' or 'error'",
        )
    };
    let s = status.trim().to_ascii_lowercase();
    Ok(Some(match s.as_str() {
        "" => return Ok(None),
        "success" => (0, 399),
        "error" => (400, 999),
        class if class.len() == 3 && class.ends_with("xx") => {
            let d = class[..1]
                .parse::<i32>()
                .ok()
                .filter(|d| (1..=5).contains(d))
                .ok_or_else(bad)?;
            (d * 100, d * 100 + 99)
        }
        code => {
            let c = code
                .parse::<i32>()
                .ok()
                .filter(|c| (100..=599).contains(c))
                .ok_or_else(bad)?;
            (c, c)
        }
    }))
}

/// Checks that a range's end comes after its start.
pub fn check_range(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<(), MetricsError> {
    match (from, to) {
        (Some(from), Some(to)) if from >= to => {
            Err(MetricsError::invalid("date_to", "must be after date_from"))
        }
        _ => Ok(()),
    }
}

/// The cursor naming `row`'s place: `at_ms:id`, base64url.
pub fn cursor_of(row: &LogRow) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", row.at.timestamp_millis(), row.id))
}

/// The place a cursor names.
pub fn parse_cursor(cursor: &str) -> Result<LogPosition, MetricsError> {
    let bad = || {
        MetricsError::invalid(
            "cursor",
            "is not a next_cursor this API gave; leave it out to start from the newest request",
        )
    };
    let text = URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(bad)?;
    let (at_ms, id) = text.split_once(':').ok_or_else(bad)?;
    let at = at_ms
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_millis)
        .ok_or_else(bad)?;
    let id = uuid::Uuid::parse_str(id).map_err(|_| bad())?;
    Ok(LogPosition {
        at,
        id: id.to_string(),
    })
}

/// The filter over key `api_key_id` of `workspace_id` that `q` asks for.
pub fn filter(
    workspace_id: &str,
    api_key_id: &str,
    q: &LogQuery,
) -> Result<LogFilter, MetricsError> {
    check_range(q.from, q.to)?;
    let method = q.method.trim().to_ascii_uppercase();
    if !method.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(MetricsError::invalid("method", "must be an HTTP method"));
    }
    let endpoint = q.endpoint.trim();
    Ok(LogFilter {
        workspace_id: workspace_id.to_owned(),
        api_key_id: api_key_id.to_owned(),
        status: status_range(&q.status)?,
        method: (!method.is_empty()).then_some(method),
        endpoint: (!endpoint.is_empty()).then(|| endpoint.to_owned()),
        from: q.from.map(ceil_ms),
        to: q.to.map(ceil_ms),
    })
}

/// A page of the log of key `api_key_id` (in `workspace_id`, already checked visible).
pub async fn page(
    state: &UsageState,
    workspace_id: &str,
    api_key_id: &str,
    q: &LogQuery,
) -> Result<LogPage, MetricsError> {
    let limit = if q.limit == 0 {
        DEFAULT_PAGE_SIZE
    } else {
        q.limit
    };
    if limit > MAX_PAGE_SIZE {
        return Err(MetricsError::invalid(
            "limit",
            format!("must be at most {MAX_PAGE_SIZE}"),
        ));
    }
    let page = q.page.max(1);
    let f = filter(workspace_id, api_key_id, q)?;
    let after = if q.cursor.trim().is_empty() {
        None
    } else {
        Some(parse_cursor(&q.cursor)?)
    };
    let offset = match after {
        Some(_) => 0,
        None => u64::from(page - 1) * u64::from(limit),
    };
    let read = MetricsError::db("reading the request log");
    let (mut rows, total) = tokio::try_join!(
        state
            .db
            .log_page(&f, after.as_ref(), offset, u64::from(limit) + 1),
        state.db.log_count(&f)
    )
    .map_err(read)?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = match rows.last() {
        Some(last) if more => cursor_of(last),
        _ => String::new(),
    };
    Ok(LogPage {
        rows,
        page,
        limit,
        total,
        next_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_filters() {
        assert_eq!(status_range("").unwrap(), None);
        assert_eq!(status_range("4xx").unwrap(), Some((400, 499)));
        assert_eq!(status_range("429").unwrap(), Some((429, 429)));
        assert_eq!(status_range("error").unwrap(), Some((400, 999)));
        assert_eq!(status_range("Success").unwrap(), Some((0, 399)));
        assert!(status_range("7xx").is_err());
        assert!(status_range("abc").is_err());
    }

    #[test]
    fn cursors_round_trip() {
        let row = LogRow {
            id: uuid::Uuid::now_v7().to_string(),
            workspace_id: String::new(),
            api_key_id: String::new(),
            api_client_id: String::new(),
            method: String::new(),
            endpoint: String::new(),
            status_code: 200,
            response_time_ms: 0,
            request_ip: String::new(),
            user_agent: String::new(),
            request_size: 0,
            response_size: 0,
            request_id: String::new(),
            at: DateTime::from_timestamp_millis(1_700_000_000_123).unwrap(),
        };
        let position = parse_cursor(&cursor_of(&row)).unwrap();
        assert_eq!((position.at, position.id), (row.at, row.id));
        for bad in ["", "!!", "MTIz", &URL_SAFE_NO_PAD.encode("12:not-a-uuid")] {
            assert!(
                matches!(
                    parse_cursor(bad),
                    Err(MetricsError::InvalidField {
                        field: "cursor",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }
}
