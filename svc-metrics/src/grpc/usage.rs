//! `crm.metrics.v1.UsageService`: a key's request log and usage, a client's usage. Each call
//! first asks svc-auth, as the caller, for the key or the client; the SQL then reads only
//! that key's or client's rows in the workspace.

use crate::domain::usage::{
    UsageState,
    logs::{self, LogPage, LogQuery},
    stats::{self, Usage, UsageQuery},
    time_of,
};
use crate::error::MetricsError;
use crate::store::usage::{request_log::LogRow, request_minutes::Keys};
use chrono::{DateTime, Utc};
use crm_platform::Principal;
use crm_proto::metrics::{self as pb, usage_service_server::UsageService};
use tonic::{Request, Response, Status};

/// Implements `UsageService`.
pub struct UsageApi {
    pub state: UsageState,
}

/// An optional request timestamp.
pub fn optional_time(
    t: Option<&prost_types::Timestamp>,
    field: &'static str,
) -> Result<Option<DateTime<Utc>>, MetricsError> {
    t.map(|t| time_of(t, field)).transpose()
}

fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// A stored request on the wire.
pub fn request_log(r: LogRow) -> pb::RequestLog {
    pb::RequestLog {
        id: r.id,
        workspace_id: r.workspace_id,
        api_key_id: r.api_key_id,
        method: r.method,
        endpoint: r.endpoint,
        status_code: u32::try_from(r.status_code).unwrap_or(0),
        response_time_ms: u32::try_from(r.response_time_ms).unwrap_or(u32::MAX),
        request_ip: r.request_ip,
        user_agent: r.user_agent,
        request_size: u64::try_from(r.request_size).unwrap_or(0),
        response_size: u64::try_from(r.response_size).unwrap_or(0),
        timestamp: Some(timestamp(r.at)),
        request_id: r.request_id,
        api_client_id: r.api_client_id,
    }
}

/// Usage statistics on the wire.
pub fn usage_stats(u: Usage) -> pb::UsageStats {
    pb::UsageStats {
        total_requests: u.total,
        successful_requests: u.successful,
        failed_requests: u.total.saturating_sub(u.successful),
        average_response_time: u.average_ms,
        requests_by_endpoint: u
            .by_endpoint
            .into_iter()
            .map(|(endpoint, count, avg)| pb::EndpointUsage {
                endpoint,
                count,
                avg_response_time: avg,
            })
            .collect(),
        requests_by_time: u
            .by_time
            .into_iter()
            .map(|(time, count)| pb::TimeUsage { time, count })
            .collect(),
        top_error_codes: u
            .top_errors
            .into_iter()
            .map(|(status_code, count)| pb::ErrorCodeCount { status_code, count })
            .collect(),
    }
}

fn log_page(page: LogPage) -> pb::ListApiKeyLogsResponse {
    let total_pages = u32::try_from(page.total.div_ceil(u64::from(page.limit))).unwrap_or(u32::MAX);
    pb::ListApiKeyLogsResponse {
        data: page.rows.into_iter().map(request_log).collect(),
        pagination: Some(pb::LogPagination {
            page: page.page,
            limit: page.limit,
            total: page.total,
            total_pages,
            next_cursor: page.next_cursor,
        }),
    }
}

#[tonic::async_trait]
impl UsageService for UsageApi {
    async fn list_api_key_logs(
        &self,
        request: Request<pb::ListApiKeyLogsRequest>,
    ) -> Result<Response<pb::ListApiKeyLogsResponse>, Status> {
        let principal = Principal::of(&request)?.clone();
        let r = request.into_inner();
        let q = LogQuery {
            status: r.status,
            method: r.method,
            endpoint: r.endpoint,
            from: optional_time(r.date_from.as_ref(), "date_from")?,
            to: optional_time(r.date_to.as_ref(), "date_to")?,
            page: r.page,
            limit: r.limit,
            cursor: r.cursor,
        };
        let key = self.state.keys.key(&principal, &r.id).await?;
        let page = logs::page(&self.state, &key.workspace_id, &key.id, &q).await?;
        Ok(Response::new(log_page(page)))
    }

    async fn get_api_key_usage(
        &self,
        request: Request<pb::GetApiKeyUsageRequest>,
    ) -> Result<Response<pb::UsageStats>, Status> {
        let principal = Principal::of(&request)?.clone();
        let r = request.into_inner();
        let q = UsageQuery {
            from: optional_time(r.date_from.as_ref(), "date_from")?,
            to: optional_time(r.date_to.as_ref(), "date_to")?,
            group_by: r.group_by,
        };
        let key = self.state.keys.key(&principal, &r.id).await?;
        let u = stats::usage(&self.state, &key.workspace_id, Keys::Ids(vec![key.id]), &q).await?;
        Ok(Response::new(usage_stats(u)))
    }

    async fn get_api_client_usage(
        &self,
        request: Request<pb::GetApiClientUsageRequest>,
    ) -> Result<Response<pb::UsageStats>, Status> {
        let principal = Principal::of(&request)?.clone();
        let workspace = principal.workspace()?.to_owned();
        let r = request.into_inner();
        let q = UsageQuery {
            from: optional_time(r.date_from.as_ref(), "date_from")?,
            to: optional_time(r.date_to.as_ref(), "date_to")?,
            group_by: r.group_by,
        };
        let client = self.state.keys.client(&principal, &r.client_id).await?;
        let u = stats::usage(&self.state, &workspace, Keys::Client(client), &q).await?;
        Ok(Response::new(usage_stats(u)))
    }
}
