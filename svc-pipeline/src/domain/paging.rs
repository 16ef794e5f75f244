//! Page and offset pagination as the seeds define it, validated with the field named.

use crm_platform::error::ApiError;

/// Rows to skip and rows to return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// 1-based page the window starts on (derived from the offset when one was given).
    pub page: u64,
    /// Rows per page.
    pub limit: u64,
    /// Rows skipped.
    pub offset: u64,
}

/// Reads `limit` (1..=max, default `default`), then `offset` or `page` (offset wins).
pub fn window(
    page: Option<i32>,
    limit: Option<i32>,
    offset: Option<i32>,
    default: u64,
    max: u64,
) -> Result<Window, ApiError> {
    let limit = match limit {
        None => default,
        Some(l) if l >= 1 && (l as u64) <= max => l as u64,
        Some(_) => {
            return Err(ApiError::invalid_field(
                "limit",
                format!("must be between 1 and {max}"),
            ));
        }
    };
    let offset = match (offset, page) {
        (Some(o), _) if o < 0 => {
            return Err(ApiError::invalid_field("offset", "must be 0 or more"));
        }
        (Some(o), _) => o as u64,
        (None, Some(p)) if p < 1 => {
            return Err(ApiError::invalid_field("page", "must be 1 or more"));
        }
        (None, Some(p)) => (p as u64 - 1) * limit,
        (None, None) => 0,
    };
    Ok(Window {
        page: offset / limit + 1,
        limit,
        offset,
    })
}

/// Number of pages holding `total` rows.
pub fn total_pages(total: u64, limit: u64) -> u64 {
    total.div_ceil(limit.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_bounds_and_offset_precedence() {
        let w = window(None, None, None, 50, 100).unwrap();
        assert_eq!((w.page, w.limit, w.offset), (1, 50, 0));
        let w = window(Some(3), Some(10), None, 50, 100).unwrap();
        assert_eq!((w.page, w.limit, w.offset), (3, 10, 20));
        let w = window(Some(3), Some(10), Some(5), 50, 100).unwrap();
        assert_eq!((w.page, w.offset), (1, 5));
        assert!(window(None, Some(101), None, 50, 100).is_err());
        assert!(window(None, Some(0), None, 50, 100).is_err());
        assert!(window(Some(0), None, None, 50, 100).is_err());
        assert!(window(None, None, Some(-1), 50, 100).is_err());
        assert_eq!(total_pages(45, 50), 1);
        assert_eq!(total_pages(0, 50), 0);
        assert_eq!(total_pages(101, 50), 3);
    }
}
