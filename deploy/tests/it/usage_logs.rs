//! The request log and usage statistics: every API-key request recorded with its details,
//! counts equal to the requests sent, filters and pages, seed 003's usage shape, nothing lost
//! silently under load, and retention.

use crate::helpers::{Options, TestApp, within};
use crm_gateway::usage::request_log::RequestLogConfig;
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
    assert_eq!(
        page["pagination"],
        json!({"page": 3, "limit": 2, "total": 5, "total_pages": 3})
    );
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["data"][0]["id"], rows[4]["id"]);
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let (_, none) = logs(
        &app,
        &owner.token,
        &id,
        &format!("?date_from={}", future.replace('+', "%2B")),
    )
    .await;
    assert_eq!(none["pagination"]["total"], 0);
    // A page reaches into the 10 000 newest matching requests at most.
    let (s, deep) = logs(&app, &owner.token, &id, "?limit=100&page=100").await;
    assert_eq!((s, deep["pagination"]["total"].as_u64()), (200, Some(5)));
    assert!(deep["data"].as_array().unwrap().is_empty());
    for (query, field) in [
        ("?limit=101", "limit"),
        ("?status=abc", "status"),
        ("?limit=100&page=101", "page"),
        ("?page=501", "page"),
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

#[tokio::test(flavor = "multi_thread")]
async fn rows_past_the_retention_are_pruned() {
    use sea_orm::EntityTrait;
    use svc_auth::store::{
        entities::api_request_log_chunks as chunks,
        log_chunk::{ChunkWriter, Entry},
        request_log::{NewChunk, insert_chunks},
    };
    let app = TestApp::spawn_with(Options {
        request_log_prune_every_secs: Some(1),
        ..Options::default()
    })
    .await;
    let owner = app.owner("Acme").await;
    let (id, key) = app.key(&owner.token, &["contacts:read"]).await;
    let db = app.auth_db().await;
    let old = chrono::Utc::now() - chrono::Duration::days(31);
    let mut writer = ChunkWriter::default();
    writer.push(Entry {
        id: *uuid::Uuid::now_v7().as_bytes(),
        at_ms: old.timestamp_millis(),
        method: "GET",
        endpoint: "/api/auth/me",
        request_ip: "127.0.0.1",
        user_agent: "",
        request_id: "",
        status_code: 200,
        response_time_ms: 1,
        request_size: 0,
        response_size: 0,
    });
    // Stored 31 days ago: its id (UUID v7) says so too, as the prune reads it.
    let stored_then = uuid::Timestamp::from_unix(uuid::NoContext, old.timestamp() as u64, 0);
    let chunk = NewChunk {
        id: uuid::Uuid::new_v7(stored_then).to_string(),
        workspace_id: owner.workspace_id.as_str().into(),
        api_key_id: id.as_str().into(),
        first_at: old,
        last_at: old,
        entries: 1,
        body: writer.finish(),
    };
    insert_chunks(&db, vec![chunk]).await.unwrap();
    assert_eq!(app.get_with_key("/api/auth/me", &key).await.0, 200);
    let pruned = within(Duration::from_secs(5), || async {
        let all = chunks::Entity::find().all(&db).await.unwrap();
        all.len() == 1 && all[0].first_at > old
    })
    .await;
    assert!(
        pruned.is_some(),
        "the 31-day-old chunk is gone, today's stays (30-day retention)"
    );
    app.stack.stop().await;
}

/// `RecordRequestLogs` straight to svc-auth, signed as one of our services.
async fn record(
    app: &TestApp,
    batch: crm_proto::auth::RecordRequestLogsRequest,
) -> Result<u32, tonic::Status> {
    let mut client =
        crm_proto::auth::key_validation_service_client::KeyValidationServiceClient::connect(
            format!("http://{}", app.stack.auth_addr),
        )
        .await
        .unwrap();
    client
        .record_request_logs(app.as_service(batch))
        .await
        .map(|r| r.into_inner().recorded)
}

/// Gateways send batches in columns; a gateway of the previous release sends one message per
/// entry. svc-auth stores both alike and refuses malformed columns by field.
#[tokio::test(flavor = "multi_thread")]
async fn batches_in_columns_and_in_messages_are_stored_alike() {
    use crm_proto::auth::{RecordRequestLogsRequest, RequestLog, RequestLogColumns};
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (id, _key) = app.key(&owner.token, &["contacts:read"]).await;
    let at_ms = chrono::Utc::now().timestamp_millis() - 60_000;
    let columns = RequestLogColumns {
        texts: [
            owner.workspace_id.as_str(),
            &id,
            "GET",
            "/api/v1/contacts",
            "203.0.113.9",
            "sdk/2",
            "",
        ]
        .map(String::from)
        .to_vec(),
        workspace_id: vec![0, 0],
        api_key_id: vec![1, 1],
        method: vec![2, 2],
        endpoint: vec![3, 3],
        request_ip: vec![4, 4],
        user_agent: vec![5, 5],
        request_id: vec![6, 6],
        status_code: vec![200, 404],
        response_time_ms: vec![7, 8],
        request_size: vec![0, 0],
        response_size: vec![120, 30],
        timestamp_ms: vec![at_ms, at_ms + 1],
    };
    let message = RequestLog {
        workspace_id: owner.workspace_id.clone(),
        api_key_id: id.clone(),
        method: "POST".into(),
        endpoint: "/api/v1/contacts".into(),
        status_code: 201,
        request_ip: "203.0.113.9".into(),
        user_agent: "sdk/1".into(),
        timestamp: Some(prost_types::Timestamp {
            seconds: (at_ms + 2) / 1000,
            nanos: ((at_ms + 2) % 1000) as i32 * 1_000_000,
        }),
        ..Default::default()
    };
    let mut bad = columns.clone();
    bad.status_code.pop();
    let refused = record(
        &app,
        RecordRequestLogsRequest {
            logs: vec![],
            columns: Some(bad),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(
        refused.message().contains("columns.status_code"),
        "{refused:?}"
    );
    let recorded = record(
        &app,
        RecordRequestLogsRequest {
            logs: vec![message],
            columns: Some(columns),
        },
    )
    .await
    .unwrap();
    assert_eq!(recorded, 3);

    let all = await_rows(&app, &owner.token, &id, 3).await;
    let rows = all["data"].as_array().unwrap();
    let seen: Vec<(&str, u64, &str, u64)> = rows
        .iter()
        .map(|r| {
            (
                r["method"].as_str().unwrap(),
                r["status_code"].as_u64().unwrap(),
                r["user_agent"].as_str().unwrap(),
                r["response_size"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("POST", 201, "sdk/1", 0),
            ("GET", 404, "sdk/2", 30),
            ("GET", 200, "sdk/2", 120)
        ],
        "newest first"
    );
    assert!(rows.iter().all(|r| r["request_ip"] == "203.0.113.9"));
    assert!(rows.iter().all(|r| r["endpoint"] == "/api/v1/contacts"));
    let newest = chrono::DateTime::from_timestamp_millis(at_ms + 2).unwrap();
    assert_eq!(
        rows[0]["timestamp"],
        newest.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );
}
