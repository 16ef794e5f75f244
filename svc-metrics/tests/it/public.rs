//! The public reads over the wire: svc-auth (its stand-in) is asked as the caller, its 404
//! passes through, and the answers are the seed shapes.

use crate::{new_id, request, spawn_app, ts, user};
use chrono::{Duration, DurationRound, Utc};
use crm_proto::metrics::{self as pb, usage_service_client::UsageServiceClient};
use tonic::Code;

#[tokio::test]
async fn a_keys_log_pages_by_cursor_and_number() {
    let app = spawn_app().await;
    let (ws, key, other_ws) = (new_id(), new_id(), new_id());
    app.auth.add(&key, &ws);
    let start = Utc::now() - Duration::hours(1);
    let batch = (0..7)
        .map(|i| {
            request(
                &ws,
                &key,
                "/api/v1/contacts",
                if i == 3 { 404 } else { 200 },
                i,
                start + Duration::seconds(i64::from(i)),
            )
        })
        .collect();
    app.record(batch).await;
    let mut usage = UsageServiceClient::new(app.channel.clone());

    let first = usage
        .list_api_key_logs(app.as_user(
            &ws,
            pb::ListApiKeyLogsRequest {
                id: key.clone(),
                limit: 3,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let pagination = first.pagination.clone().unwrap();
    assert_eq!(
        (
            pagination.page,
            pagination.limit,
            pagination.total,
            pagination.total_pages
        ),
        (1, 3, 7, 3)
    );
    assert_eq!(first.data[0].response_time_ms, 6, "newest first");
    assert_eq!(first.data[0].api_key_id, key);
    assert_eq!(
        app.auth.seen.lock().unwrap().last().unwrap(),
        &user(&ws),
        "svc-auth is asked as the caller"
    );

    let mut seen: Vec<u32> = first.data.iter().map(|r| r.response_time_ms).collect();
    let mut cursor = pagination.next_cursor;
    while !cursor.is_empty() {
        let next = usage
            .list_api_key_logs(app.as_user(
                &ws,
                pb::ListApiKeyLogsRequest {
                    id: key.clone(),
                    limit: 3,
                    cursor,
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        seen.extend(next.data.iter().map(|r| r.response_time_ms));
        cursor = next.pagination.unwrap().next_cursor;
    }
    assert_eq!(seen, [6, 5, 4, 3, 2, 1, 0]);

    let third = usage
        .list_api_key_logs(app.as_user(
            &ws,
            pb::ListApiKeyLogsRequest {
                id: key.clone(),
                limit: 3,
                page: 3,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(third.data.len(), 1);
    assert!(third.pagination.unwrap().next_cursor.is_empty());

    let errors = usage
        .list_api_key_logs(app.as_user(
            &ws,
            pb::ListApiKeyLogsRequest {
                id: key.clone(),
                status: "4xx".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(errors.data.len(), 1);
    assert_eq!(errors.data[0].status_code, 404);

    let bad = usage
        .list_api_key_logs(app.as_user(
            &ws,
            pb::ListApiKeyLogsRequest {
                id: key.clone(),
                cursor: "zzz".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(bad.message().contains("cursor"), "{bad:?}");

    let foreign = usage
        .list_api_key_logs(app.as_user(
            &other_ws,
            pb::ListApiKeyLogsRequest {
                id: key.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(foreign.code(), Code::NotFound);
    assert_eq!(foreign.message(), format!("API key '{key}' not found"));
}

#[tokio::test]
async fn key_and_client_usage() {
    let app = spawn_app().await;
    let (ws, key, deleted_key, client) = (new_id(), new_id(), new_id(), new_id());
    app.auth.add(&key, &ws);
    app.auth.add(&client, &ws);
    let t = (Utc::now() - Duration::hours(3))
        .duration_trunc(Duration::hours(1))
        .unwrap();
    let mut batch = Vec::new();
    for (k, status, at) in [
        (&key, 200, t),
        (&key, 500, t + Duration::minutes(70)),
        (&deleted_key, 200, t + Duration::minutes(5)),
    ] {
        let mut r = request(&ws, k, "/api/v1/contacts", status, 10, at);
        r.api_client_id = client.clone();
        batch.push(r);
    }
    app.record(batch).await;
    let mut usage = UsageServiceClient::new(app.channel.clone());

    let by_hour = usage
        .get_api_key_usage(app.as_user(
            &ws,
            pb::GetApiKeyUsageRequest {
                id: key.clone(),
                group_by: "hour".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            by_hour.total_requests,
            by_hour.successful_requests,
            by_hour.failed_requests
        ),
        (2, 1, 1)
    );
    let hours: Vec<(String, u64)> = by_hour
        .requests_by_time
        .into_iter()
        .map(|b| (b.time, b.count))
        .collect();
    let hour = |h: i64| {
        (t + Duration::hours(h))
            .format("%Y-%m-%dT%H:00:00Z")
            .to_string()
    };
    assert_eq!(hours, [(hour(0), 1), (hour(1), 1)]);

    let client_usage = usage
        .get_api_client_usage(app.as_user(
            &ws,
            pb::GetApiClientUsageRequest {
                client_id: client.clone(),
                date_from: Some(ts(t)),
                date_to: Some(ts(t + Duration::minutes(60))),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        client_usage.total_requests, 2,
        "the deleted key counts; the request after date_to does not"
    );

    let other = new_id();
    let refused = usage
        .get_api_client_usage(app.as_user(
            &other,
            pb::GetApiClientUsageRequest {
                client_id: client.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::NotFound);

    let bad = usage
        .get_api_key_usage(app.as_user(
            &ws,
            pb::GetApiKeyUsageRequest {
                id: key.clone(),
                date_from: Some(ts(t)),
                date_to: Some(ts(t)),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(bad.message().contains("date_to"), "{bad:?}");
}
