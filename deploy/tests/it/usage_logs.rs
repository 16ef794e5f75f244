//! The request log and usage statistics: every API-key request recorded with its details,
//! counts equal to the requests sent, filters and pages, seed 003's usage shape, nothing lost
//! silently under load, and retention.

use crate::helpers::{Options, TestApp, within};
use crm_gateway::usage::request_log::RequestLogConfig;
use crm_proto::metrics::{
    RecordRequestsRequest, RequestLog, usage_ingest_service_client::UsageIngestServiceClient,
};
use serde_json::{Value, json};
use std::time::Duration;

async fn logs(app: &TestApp, token: &str, id: &str, query: &str) -> (u16, Value) {
    app.send(app.get_as(token, &format!("/api/v1/api-keys/{id}/logs{query}")))
        .await
}

/// Waits until the key's log holds `n` rows (batches are flushed every 200 ms in tests).
async fn await_rows(app: &TestApp, token: &str, id: &str, n: u64) -> Value {
    let start = std::time::Instant::now();
    loop {
        let (_, v) = logs(app, token, id, "?limit=100").await;
        if v["pagination"]["total"] == n {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "expected {n} rows, got {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_key_request_is_logged_with_its_details() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (id, key) = app.key(&owner.token, &["contacts:read"]).await;
    for _ in 0..3 {
        let r = app
            .http
            .get(app.url("/api/auth/me"))
            .header("x-api-key", &key)
            .header("user-agent", "partner-sdk/1.0")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    assert_eq!(app.get_with_key("/api/v1/agents", &key).await.0, 403);
    let body = json!({"name": "from a key", "scopes": ["contacts:read"]}).to_string();
    let r = app
        .http
        .post(app.url("/api/v1/api-keys"))
        .header("x-api-key", &key)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // User-token requests are not key requests: not in the key's log.
    app.send(app.get_as(&owner.token, "/api/auth/me")).await;

    let all = await_rows(&app, &owner.token, &id, 5).await;
    let rows = all["data"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    let post = &rows[0];
    assert_eq!(post["method"], "POST", "newest first");
    assert_eq!(post["endpoint"], "/api/v1/api-keys");
    assert_eq!(post["status_code"], 403);
    assert_eq!(post["request_size"], body.len());
    let me = &rows[4];
    assert_eq!(me["endpoint"], "/api/auth/me");
    assert_eq!(me["status_code"], 200);
    assert_eq!(me["request_ip"], "127.0.0.1");
    assert_eq!(me["user_agent"], "partner-sdk/1.0");
    assert_eq!(me["api_key_id"], id.as_str());
    assert!(me["response_size"].as_u64().unwrap() > 20);
    assert!(me["response_time_ms"].is_u64());
    let at = me["timestamp"].as_str().unwrap();
    assert!(at.ends_with('Z'), "{at}");
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(at)
            .unwrap()
            .timestamp_subsec_nanos()
            % 1_000_000,
        0,
        "millisecond precision, as every stored time: {at}"
    );
    assert_eq!(
        rows[1]["endpoint"], "/api/v1/agents",
        "route template, as called"
    );

    let (_, errors) = logs(&app, &owner.token, &id, "?status=4xx").await;
    assert_eq!(errors["pagination"]["total"], 2);
    let (_, posts) = logs(&app, &owner.token, &id, "?method=post").await;
    assert_eq!(posts["pagination"]["total"], 1);
    let (_, agents) = logs(&app, &owner.token, &id, "?endpoint=agents").await;
    assert_eq!(agents["pagination"]["total"], 1);
    let (_, page) = logs(&app, &owner.token, &id, "?limit=2&page=3").await;
    let p = &page["pagination"];
    assert_eq!(
        (&p["page"], &p["limit"], &p["total"], &p["total_pages"]),
        (&json!(3), &json!(2), &json!(5), &json!(3))
    );
    assert!(
        p["next_cursor"].as_str().unwrap_or_default().is_empty(),
        "last page"
    );
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["data"][0]["id"], rows[4]["id"]);
    // Cursor pages walk every row, newest first, each once.
    let mut walked = Vec::new();
    let mut query = "?limit=2".to_owned();
    loop {
        let (s, page) = logs(&app, &owner.token, &id, &query).await;
        assert_eq!(s, 200, "{page}");
        walked.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].clone()),
        );
        match page["pagination"]["next_cursor"].as_str() {
            Some(c) if !c.is_empty() => query = format!("?limit=2&cursor={c}"),
            _ => break,
        }
        assert!(walked.len() <= 5, "the walk ends");
    }
    let ids: Vec<Value> = rows.iter().map(|r| r["id"].clone()).collect();
    assert_eq!(walked, ids);
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let (_, none) = logs(
        &app,
        &owner.token,
        &id,
        &format!("?date_from={}", future.replace('+', "%2B")),
    )
    .await;
    assert_eq!(none["pagination"]["total"], 0);
    // Numbered pages have no depth limit: past the end they are empty.
    let (s, deep) = logs(&app, &owner.token, &id, "?limit=100&page=1000").await;
    assert_eq!((s, deep["pagination"]["total"].as_u64()), (200, Some(5)));
    assert!(deep["data"].as_array().unwrap().is_empty());
    for (query, field) in [
        ("?limit=101", "limit"),
        ("?status=abc", "status"),
        ("?cursor=not-a-cursor", "cursor"),
    ] {
        let (s, e) = logs(&app, &owner.token, &id, query).await;
        assert_eq!((s, &e["details"]["field"]), (400, &json!(field)), "{query}");
    }
    // Another workspace's owner cannot read this key's log.
    let other = app.owner("Other").await;
    assert_eq!(logs(&app, &other.token, &id, "").await.0, 404);
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_statistics_add_up_to_the_requests_sent() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (id, key, _) = app
        .create_key(
            &owner.token,
            json!({"name": "k", "scopes": ["contacts:read"], "rate_limit_override": 6}),
        )
        .await;
    for _ in 0..4 {
        assert_eq!(app.get_with_key("/api/auth/me", &key).await.0, 200);
    }
    assert_eq!(app.get_with_key("/api/agents", &key).await.0, 403);
    assert_eq!(app.get_with_key("/api/auth/me", &key).await.0, 200);
    // Rate-limited requests are logged too.
    assert_eq!(app.get_with_key("/api/auth/me", &key).await.0, 429);
    assert_eq!(app.get_with_key("/api/auth/me", &key).await.0, 429);
    await_rows(&app, &owner.token, &id, 8).await;

    let (s, u) = app
        .send(app.get_as(&owner.token, &format!("/api/v1/api-keys/{id}/usage")))
        .await;
    assert_eq!(s, 200);
    assert_eq!(u["totalRequests"], 8);
    assert_eq!(u["successfulRequests"], 5);
    assert_eq!(u["failedRequests"], 3);
    assert!(u["averageResponseTime"].is_u64());
    let endpoints = u["requestsByEndpoint"].as_array().unwrap();
    assert_eq!(endpoints[0]["endpoint"], "/api/auth/me");
    assert_eq!(endpoints[0]["count"], 7);
    assert_eq!(endpoints[1]["endpoint"], "/api/agents");
    assert_eq!(endpoints[1]["count"], 1);
    assert!(endpoints[0]["avgResponseTime"].is_u64());
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert_eq!(u["requestsByTime"], json!([{"time": today, "count": 8}]));
    assert_eq!(
        u["topErrorCodes"],
        json!([{"statusCode": 429, "count": 2}, {"statusCode": 403, "count": 1}])
    );
    let (_, hourly) = app
        .send(app.get_as(
            &owner.token,
            &format!("/api/v1/api-keys/{id}/usage?group_by=hour"),
        ))
        .await;
    let hour = chrono::Utc::now().format("%Y-%m-%dT%H:00:00Z").to_string();
    let buckets = hourly["requestsByTime"].as_array().unwrap();
    assert_eq!(
        buckets
            .iter()
            .map(|b| b["count"].as_u64().unwrap())
            .sum::<u64>(),
        8
    );
    assert!(
        buckets.iter().any(|b| b["time"] == hour.as_str())
            || chrono::Utc::now().format("%M").to_string() == "00"
    );
    let (s, e) = app
        .send(app.get_as(
            &owner.token,
            &format!("/api/v1/api-keys/{id}/usage?group_by=week"),
        ))
        .await;
    assert_eq!((s, &e["details"]["field"]), (400, &json!("group_by")));
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn under_load_every_entry_is_either_stored_or_counted_as_dropped() {
    let app = TestApp::spawn_with(Options {
        request_log: Some(RequestLogConfig {
            enabled: true,
            buffer: 4,
            batch: 2,
        }),
        ..Options::default()
    })
    .await;
    let owner = app.owner("Acme").await;
    let (id, key, _) = app
        .create_key(
            &owner.token,
            json!({"name": "k", "scopes": ["contacts:read"], "rate_limit_override": 1000}),
        )
        .await;
    let calls: Vec<_> = (0..60)
        .map(|_| {
            let r = app
                .http
                .get(app.url("/api/auth/me"))
                .header("x-api-key", &key);
            tokio::spawn(async move { r.send().await.unwrap().status().as_u16() })
        })
        .collect();
    for c in calls {
        assert_eq!(c.await.unwrap(), 200);
    }
    let counters = || async {
        let (_, r) = app.send(app.http.get(app.url("/readyz"))).await;
        let l = &r["details"]["request_logs"];
        (l["sent"].as_u64().unwrap(), l["dropped"].as_u64().unwrap())
    };
    let settled = within(Duration::from_secs(5), || async {
        let (sent, dropped) = counters().await;
        sent + dropped == 60
    })
    .await;
    let (sent, dropped) = counters().await;
    assert!(settled.is_some(), "sent {sent} + dropped {dropped} != 60");
    let stored = logs(&app, &owner.token, &id, "").await.1["pagination"]["total"].clone();
    assert_eq!(stored, sent, "every entry sent is stored");
    let metrics = app.metrics(&app.base).await;
    assert!(metrics.contains(&format!("crm_gateway_request_logs_dropped_total {dropped}")));
    app.stack.stop().await;
}

/// `RecordRequests` straight to svc-metrics, signed as one of our services.
async fn record(app: &TestApp, requests: Vec<RequestLog>) -> Result<u32, tonic::Status> {
    let mut client =
        UsageIngestServiceClient::connect(format!("http://{}", app.stack.metrics_addr))
            .await
            .unwrap();
    client
        .record_requests(app.as_service(RecordRequestsRequest { requests }))
        .await
        .map(|r| r.into_inner().recorded)
}

/// A request of `key` in `workspace` at `at`.
fn request_at(workspace: &str, key: &str, at: chrono::DateTime<chrono::Utc>) -> RequestLog {
    RequestLog {
        workspace_id: workspace.into(),
        api_key_id: key.into(),
        method: "GET".into(),
        endpoint: "/api/v1/contacts".into(),
        status_code: 200,
        request_ip: "203.0.113.9".into(),
        user_agent: "sdk/1".into(),
        timestamp: Some(prost_types::Timestamp {
            seconds: at.timestamp(),
            nanos: at.timestamp_subsec_millis() as i32 * 1_000_000,
        }),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_past_the_retention_are_pruned() {
    let app = TestApp::spawn_with(Options {
        request_log_prune_every_secs: Some(1),
        ..Options::default()
    })
    .await;
    let owner = app.owner("Acme").await;
    let (id, _key) = app.key(&owner.token, &["contacts:read"]).await;
    let now = chrono::Utc::now();
    let old = now - chrono::Duration::days(31);
    let batch = vec![
        request_at(&owner.workspace_id, &id, old),
        request_at(&owner.workspace_id, &id, now - chrono::Duration::seconds(1)),
    ];
    assert_eq!(record(&app, batch).await.unwrap(), 2);
    let usage_path = format!("/api/v1/api-keys/{id}/usage?date_from=2000-01-01T00:00:00Z");
    let pruned = within(Duration::from_secs(5), || async {
        let (_, page) = logs(&app, &owner.token, &id, "").await;
        let (_, usage) = app.send(app.get_as(&owner.token, &usage_path)).await;
        page["pagination"]["total"] == 1 && usage["totalRequests"] == 1
    })
    .await;
    assert!(
        pruned.is_some(),
        "the 31-day-old request is gone from the log and the usage, today's stays (30-day retention)"
    );
    app.stack.stop().await;
}

/// svc-metrics stores a batch as sent, refuses one from outside our services, and answers it
/// newest first with millisecond times.
#[tokio::test(flavor = "multi_thread")]
async fn batches_are_stored_as_sent_and_only_from_our_services() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (id, _key) = app.key(&owner.token, &["contacts:read"]).await;
    let at =
        chrono::DateTime::from_timestamp_millis(chrono::Utc::now().timestamp_millis() - 60_000)
            .unwrap();
    let mut post = request_at(
        &owner.workspace_id,
        &id,
        at + chrono::Duration::milliseconds(2),
    );
    post.method = "POST".into();
    post.status_code = 201;
    let mut missing = request_at(
        &owner.workspace_id,
        &id,
        at + chrono::Duration::milliseconds(1),
    );
    missing.status_code = 404;
    missing.response_size = 30;
    let batch = vec![request_at(&owner.workspace_id, &id, at), missing, post];

    let mut client =
        UsageIngestServiceClient::connect(format!("http://{}", app.stack.metrics_addr))
            .await
            .unwrap();
    let unsigned = client
        .record_requests(RecordRequestsRequest {
            requests: batch.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        unsigned.code(),
        tonic::Code::Unauthenticated,
        "{unsigned:?}"
    );
    assert_eq!(record(&app, batch).await.unwrap(), 3);

    let all = await_rows(&app, &owner.token, &id, 3).await;
    let rows = all["data"].as_array().unwrap();
    let seen: Vec<(&str, u64, u64)> = rows
        .iter()
        .map(|r| {
            (
                r["method"].as_str().unwrap(),
                r["status_code"].as_u64().unwrap(),
                r["response_size"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [("POST", 201, 0), ("GET", 404, 30), ("GET", 200, 0)],
        "newest first"
    );
    assert!(rows.iter().all(|r| r["request_ip"] == "203.0.113.9"));
    let newest = at + chrono::Duration::milliseconds(2);
    assert_eq!(
        rows[0]["timestamp"],
        newest.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );
    app.stack.stop().await;
}
