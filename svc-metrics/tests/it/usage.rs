//! Ingest and the internal usage reads: the numbers, workspace isolation, who may call.

use crate::{UsageAsk, new_id, request, spawn_app};
use chrono::{DateTime, Duration, DurationRound, Utc};
use crm_proto::metrics as pb;
use sea_orm::{ConnectionTrait, Statement};
use tonic::Code;

fn minute_ago(n: i64) -> DateTime<Utc> {
    (Utc::now() - Duration::minutes(n))
        .duration_trunc(Duration::minutes(1))
        .unwrap()
}

#[tokio::test]
async fn recorded_requests_give_usage_and_accepted_counts() {
    let app = spawn_app().await;
    let (ws, key, other_key) = (new_id(), new_id(), new_id());
    let t = minute_ago(90);
    let batch = vec![
        request(&ws, &key, "/api/v1/contacts", 200, 10, t),
        request(
            &ws,
            &key,
            "/api/v1/contacts",
            200,
            21,
            t + Duration::seconds(59),
        ),
        request(
            &ws,
            &key,
            "/api/v1/contacts",
            404,
            30,
            t + Duration::minutes(1),
        ),
        request(
            &ws,
            &key,
            "/api/v1/agents",
            429,
            1,
            t + Duration::minutes(61),
        ),
        request(
            &ws,
            &key,
            "/api/v1/agents",
            500,
            2,
            t + Duration::minutes(62),
        ),
        request(&ws, &other_key, "/api/v1/agents", 200, 5, t),
    ];
    assert_eq!(app.record(batch).await, 6);

    let keys = [key.clone()];
    let u = app
        .usage(UsageAsk {
            workspace_id: &ws,
            api_key_ids: &keys,
            ..Default::default()
        })
        .await;
    assert_eq!(
        (u.total_requests, u.successful_requests, u.failed_requests),
        (5, 2, 3)
    );
    assert_eq!(
        u.average_response_time, 13,
        "64 ms over 5 requests, rounded"
    );
    let endpoints: Vec<(&str, u64, u64)> = u
        .requests_by_endpoint
        .iter()
        .map(|e| (e.endpoint.as_str(), e.count, e.avg_response_time))
        .collect();
    assert_eq!(
        endpoints,
        [("/api/v1/contacts", 3, 20), ("/api/v1/agents", 2, 2)]
    );
    let errors: Vec<(u32, u64)> = u
        .top_error_codes
        .iter()
        .map(|e| (e.status_code, e.count))
        .collect();
    assert_eq!(errors, [(404, 1), (429, 1), (500, 1)]);
    let days: u64 = u.requests_by_time.iter().map(|b| b.count).sum();
    assert_eq!(days, 5);
    assert!(u.requests_by_time.iter().all(|b| b.time.len() == 10));

    let by_hour = app
        .usage(UsageAsk {
            workspace_id: &ws,
            api_key_ids: &keys,
            group_by: "hour",
            from: Some(t + Duration::seconds(30)),
            to: Some(t + Duration::minutes(62)),
            ..Default::default()
        })
        .await;
    // Whole minutes: from is floored to t (both first requests count), the request at
    // t + 62 min falls outside.
    assert_eq!(by_hour.total_requests, 4);
    let hours: Vec<(String, u64)> = by_hour
        .requests_by_time
        .iter()
        .map(|b| (b.time.clone(), b.count))
        .collect();
    let hour = |at: DateTime<Utc>| at.format("%Y-%m-%dT%H:00:00Z").to_string();
    let mut expected: Vec<(String, u64)> = Vec::new();
    for at in [t, t, t + Duration::minutes(1), t + Duration::minutes(61)] {
        match expected.last_mut() {
            Some((h, n)) if *h == hour(at) => *n += 1,
            _ => expected.push((hour(at), 1)),
        }
    }
    assert_eq!(hours, expected);

    let counts = app
        .accepted(
            &ws,
            &keys,
            "",
            &[
                t,
                t + Duration::minutes(1),
                t + Duration::minutes(62),
                Utc::now(),
            ],
        )
        .await;
    assert_eq!(counts, [4, 2, 1, 0], "429s are not counted");
}

#[tokio::test]
async fn the_log_keeps_every_field_in_whole_milliseconds() {
    let app = spawn_app().await;
    let (ws, key, client) = (new_id(), new_id(), new_id());
    let at = DateTime::parse_from_rfc3339("2024-03-01T10:00:00.123456Z")
        .unwrap()
        .to_utc();
    let mut r = request(&ws, &key, &"e".repeat(300), 201, 7, at);
    r.api_client_id = client.clone();
    r.user_agent = "u".repeat(600);
    r.request_size = u64::MAX;
    assert_eq!(app.record(vec![r]).await, 1);
    let rows = app
        .db
        .query_all_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT id, api_client_id, endpoint, user_agent, request_size, at FROM request_log",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    let id: String = row.try_get("", "id").unwrap();
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 7);
    assert_eq!(row.try_get::<String>("", "api_client_id").unwrap(), client);
    assert_eq!(row.try_get::<String>("", "endpoint").unwrap().len(), 256);
    assert_eq!(row.try_get::<String>("", "user_agent").unwrap().len(), 512);
    assert_eq!(row.try_get::<i64>("", "request_size").unwrap(), i64::MAX);
    let stored: DateTime<Utc> = row.try_get("", "at").unwrap();
    assert_eq!(stored.timestamp_millis(), at.timestamp_millis());
    assert_eq!(stored.timestamp_subsec_nanos() % 1_000_000, 0);
}

#[tokio::test]
async fn a_bad_batch_stores_nothing() {
    let app = spawn_app().await;
    let (ws, key) = (new_id(), new_id());
    let good = request(&ws, &key, "/a", 200, 1, minute_ago(1));
    let bad = request(&ws, &key, "/a", 1000, 1, minute_ago(1));
    let refused = app
        .ingest()
        .record_requests(app.as_service(pb::RecordRequestsRequest {
            requests: vec![good, bad],
        }))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().contains("status_code"), "{refused:?}");
    let keys = [key];
    let u = app
        .usage(UsageAsk {
            workspace_id: &ws,
            api_key_ids: &keys,
            ..Default::default()
        })
        .await;
    assert_eq!(u.total_requests, 0);
}

#[tokio::test]
async fn another_workspace_sees_nothing() {
    let app = spawn_app().await;
    let (ws, other_ws, key, client) = (new_id(), new_id(), new_id(), new_id());
    let mut r = request(&ws, &key, "/a", 200, 1, minute_ago(5));
    r.api_client_id = client.clone();
    app.record(vec![r]).await;
    let keys = [key.clone()];
    for (workspace, expected) in [(&ws, 1), (&other_ws, 0)] {
        let by_key = app
            .usage(UsageAsk {
                workspace_id: workspace,
                api_key_ids: &keys,
                ..Default::default()
            })
            .await;
        let by_client = app
            .usage(UsageAsk {
                workspace_id: workspace,
                api_client_id: &client,
                ..Default::default()
            })
            .await;
        assert_eq!(
            (by_key.total_requests, by_client.total_requests),
            (expected, expected)
        );
        let since = [minute_ago(60)];
        assert_eq!(app.accepted(workspace, &keys, "", &since).await, [expected]);
        assert_eq!(
            app.accepted(workspace, &[], &client, &since).await,
            [expected]
        );
    }
}

#[tokio::test]
async fn internal_rpcs_refuse_other_callers_and_ambiguous_keys() {
    let app = spawn_app().await;
    let ws = new_id();
    let refused = app
        .ingest()
        .record_requests(app.as_user(&ws, pb::RecordRequestsRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let refused = app
        .ingest()
        .get_keys_usage(app.as_user(
            &ws,
            pb::GetKeysUsageRequest {
                workspace_id: ws.clone(),
                api_key_ids: vec![new_id()],
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let refused = app
        .ingest()
        .count_accepted(app.as_user(&ws, pb::CountAcceptedRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let unsigned = app
        .ingest()
        .record_requests(pb::RecordRequestsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(unsigned.code(), Code::Unauthenticated);

    for (ids, client) in [(vec![], ""), (vec![new_id()], "c")] {
        let refused = app
            .ingest()
            .get_keys_usage(app.as_service(pb::GetKeysUsageRequest {
                workspace_id: ws.clone(),
                api_key_ids: ids,
                api_client_id: client.into(),
                ..Default::default()
            }))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument);
        assert!(refused.message().contains("api_client_id"), "{refused:?}");
    }
    let refused = app
        .ingest()
        .get_keys_usage(app.as_service(pb::GetKeysUsageRequest {
            workspace_id: ws.clone(),
            api_key_ids: vec![new_id()],
            group_by: "week".into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().contains("group_by"), "{refused:?}");
}
