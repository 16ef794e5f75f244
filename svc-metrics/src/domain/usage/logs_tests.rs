//! The log page's SQL on the test backend (SQLite, or Postgres with `DATABASE_URL`): filters,
//! numbered pages, and a cursor walk that reaches every row.

use super::logs::{LogQuery, page};
use super::{UsageState, ingest, keys::KeyDirectory};
use crate::error::MetricsError;
use crate::store::usage::UsageDb;
use chrono::{Duration, Utc};
use crm_platform::{Secret, principal::PrincipalVerifier, testing::TestStorage};
use crm_proto::metrics::RequestLog;

async fn state(storage: &TestStorage) -> UsageState {
    let url = crm_platform::db::service_url(
        storage.database_url.as_deref(),
        &storage.data_dir,
        "metrics",
    );
    let conn = crm_platform::db::connect(&url, "metrics").await.unwrap();
    crm_platform::db::migrate::<crate::migration::Migrator>(&conn, "metrics")
        .await
        .unwrap();
    let signer = PrincipalVerifier::new(&Secret::new("logs-tests-secret-0123456789abcdef"));
    UsageState {
        db: UsageDb::new(conn),
        keys: KeyDirectory::new("", signer).unwrap(),
    }
}

#[tokio::test]
async fn pages_filters_and_cursors() {
    let storage = TestStorage::new().await;
    let state = state(&storage).await;
    let (ws, key, other) = ("w-1", "k-1", "k-2");
    // Whole seconds, as the requests' timestamps below.
    let start = chrono::DateTime::from_timestamp(Utc::now().timestamp() - 7200, 0).unwrap();
    let mut requests = Vec::new();
    for i in 0..25i64 {
        let at = start + Duration::seconds(i);
        requests.push(RequestLog {
            workspace_id: ws.into(),
            api_key_id: key.into(),
            method: if i % 5 == 0 { "POST" } else { "GET" }.into(),
            endpoint: if i % 2 == 0 {
                "/api/v1/agents"
            } else {
                "/api/v1/contacts"
            }
            .into(),
            status_code: if i % 3 == 0 { 404 } else { 200 },
            timestamp: Some(prost_types::Timestamp {
                seconds: at.timestamp(),
                nanos: 0,
            }),
            ..Default::default()
        });
    }
    // Three requests in the same millisecond: the cursor orders them by id.
    for _ in 0..3 {
        let mut r = requests[24].clone();
        r.endpoint = "/same".into();
        requests.push(r);
    }
    let mut foreign = requests[0].clone();
    foreign.api_key_id = other.into();
    requests.push(foreign);
    ingest::record(&state, requests).await.unwrap();

    let first = page(&state, ws, key, &LogQuery::default()).await.unwrap();
    assert_eq!((first.total, first.limit, first.rows.len()), (28, 20, 20));
    assert!(
        first
            .rows
            .windows(2)
            .all(|w| (w[0].at, &w[0].id) > (w[1].at, &w[1].id)),
        "newest first"
    );
    assert!(!first.next_cursor.is_empty());

    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let q = LogQuery {
            limit: 3,
            cursor: cursor.clone(),
            ..LogQuery::default()
        };
        let p = page(&state, ws, key, &q).await.unwrap();
        seen.extend(p.rows.iter().map(|r| r.id.clone()));
        if p.next_cursor.is_empty() {
            break;
        }
        cursor = p.next_cursor;
    }
    let all = page(
        &state,
        ws,
        key,
        &LogQuery {
            limit: 100,
            ..LogQuery::default()
        },
    )
    .await
    .unwrap();
    let ids: Vec<String> = all.rows.iter().map(|r| r.id.clone()).collect();
    assert_eq!(seen, ids, "the cursor walk meets every row once, in order");
    assert!(all.next_cursor.is_empty());

    let third = page(
        &state,
        ws,
        key,
        &LogQuery {
            limit: 10,
            page: 3,
            ..LogQuery::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(third.rows.len(), 8);
    assert_eq!(third.rows[0].id, ids[20]);
    let deep = LogQuery {
        limit: 100,
        page: 1_000,
        ..LogQuery::default()
    };
    assert!(page(&state, ws, key, &deep).await.unwrap().rows.is_empty());

    let count = |q: LogQuery| {
        let state = state.clone();
        async move { page(&state, ws, key, &q).await.unwrap().total }
    };
    assert_eq!(
        count(LogQuery {
            status: "4xx".into(),
            ..LogQuery::default()
        })
        .await,
        12,
        "nine of the 25, and the three copies of the last"
    );
    assert_eq!(
        count(LogQuery {
            method: "post".into(),
            ..LogQuery::default()
        })
        .await,
        5
    );
    assert_eq!(
        count(LogQuery {
            endpoint: "contacts".into(),
            ..LogQuery::default()
        })
        .await,
        12
    );
    assert_eq!(
        count(LogQuery {
            endpoint: "CONTACTS".into(),
            ..LogQuery::default()
        })
        .await,
        0,
        "case-sensitive on both backends"
    );
    assert_eq!(
        count(LogQuery {
            from: Some(start + Duration::seconds(20)),
            to: Some(start + Duration::seconds(24)),
            ..LogQuery::default()
        })
        .await,
        4
    );

    for (q, field) in [
        (
            LogQuery {
                limit: 101,
                ..LogQuery::default()
            },
            "limit",
        ),
        (
            LogQuery {
                cursor: "not-a-cursor".into(),
                ..LogQuery::default()
            },
            "cursor",
        ),
        (
            LogQuery {
                status: "7xx".into(),
                ..LogQuery::default()
            },
            "status",
        ),
        (
            LogQuery {
                from: Some(start),
                to: Some(start),
                ..LogQuery::default()
            },
            "date_to",
        ),
    ] {
        match page(&state, ws, key, &q).await {
            Err(MetricsError::InvalidField { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
}
