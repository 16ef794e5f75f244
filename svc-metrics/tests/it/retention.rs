//! Retention: old requests and rollup minutes go; on Postgres whole day partitions are
//! dropped and the default partition is deleted from.

use crate::{TestApp, UsageAsk, new_id, request, spawn_app};
use chrono::{DateTime, Days, Duration, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

async fn count(app: &TestApp, sql: &str) -> i64 {
    let row = app
        .db
        .query_one_raw(Statement::from_string(app.db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "n").unwrap()
}

async fn partition_exists(app: &TestApp, day: NaiveDate) -> bool {
    let sql = format!(
        "SELECT COUNT(*) AS n FROM pg_class WHERE relname = 'request_log_{}' \
         AND relnamespace = current_schema()::regnamespace",
        day.format("%Y%m%d")
    );
    count(app, &sql).await == 1
}

fn is_postgres(app: &TestApp) -> bool {
    app.db.get_database_backend() == DbBackend::Postgres
}

#[tokio::test]
async fn prune_removes_old_requests_and_minutes() {
    let app = spawn_app().await;
    let (ws, key) = (new_id(), new_id());
    let now = Utc::now();
    let today = now.date_naive();
    let five_days_ago = now - Duration::days(5);
    // As if the service had run five days ago: that day got its partition.
    svc_metrics::maintain_usage(&app.db, five_days_ago, 0)
        .await
        .unwrap();
    let day = |n: u64| today.checked_sub_days(Days::new(n)).unwrap();
    if is_postgres(&app) {
        assert!(partition_exists(&app, day(5)).await);
        assert!(partition_exists(&app, day(0)).await, "made at start");
    }
    let recent = now - Duration::hours(1);
    let forty_days_ago = now - Duration::days(40);
    app.record(vec![
        request(&ws, &key, "/a", 200, 1, five_days_ago),
        request(&ws, &key, "/a", 200, 1, forty_days_ago),
        request(&ws, &key, "/a", 200, 1, recent),
    ])
    .await;
    if is_postgres(&app) {
        assert_eq!(
            count(&app, "SELECT COUNT(*) AS n FROM request_log_default").await,
            1,
            "a day without a partition lands in the default one"
        );
    }
    assert_eq!(
        count(&app, "SELECT COUNT(*) AS n FROM request_minutes").await,
        3
    );

    svc_metrics::maintain_usage(&app.db, now, 2).await.unwrap();
    assert_eq!(
        count(&app, "SELECT COUNT(*) AS n FROM request_log").await,
        1
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) AS n FROM request_minutes").await,
        1
    );
    if is_postgres(&app) {
        assert!(!partition_exists(&app, day(5)).await, "dropped whole");
        assert!(partition_exists(&app, day(0)).await);
        assert_eq!(
            count(&app, "SELECT COUNT(*) AS n FROM request_log_default").await,
            0
        );
    }
    let keys = [key];
    let u = app
        .usage(UsageAsk {
            workspace_id: &ws,
            api_key_ids: &keys,
            ..Default::default()
        })
        .await;
    assert_eq!(u.total_requests, 1);
}

#[tokio::test]
async fn zero_retention_keeps_everything() {
    let app = spawn_app().await;
    let (ws, key) = (new_id(), new_id());
    let old: DateTime<Utc> = Utc::now() - Duration::days(400);
    app.record(vec![request(&ws, &key, "/a", 200, 1, old)])
        .await;
    svc_metrics::maintain_usage(&app.db, Utc::now(), 0)
        .await
        .unwrap();
    assert_eq!(
        count(&app, "SELECT COUNT(*) AS n FROM request_log").await,
        1
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) AS n FROM request_minutes").await,
        1
    );
}

#[tokio::test]
async fn a_day_already_in_the_default_partition_gets_no_partition() {
    let app = spawn_app().await;
    if !is_postgres(&app) {
        return;
    }
    let (ws, key) = (new_id(), new_id());
    let now = Utc::now();
    let ahead = now + Duration::days(5);
    app.record(vec![request(&ws, &key, "/a", 200, 1, ahead)])
        .await;
    svc_metrics::maintain_usage(&app.db, now + Duration::days(4), 0)
        .await
        .unwrap();
    let today = now.date_naive();
    let day = |n: u64| today.checked_add_days(Days::new(n)).unwrap();
    assert!(partition_exists(&app, day(4)).await);
    assert!(
        !partition_exists(&app, day(5)).await,
        "its row is in default"
    );
    assert!(partition_exists(&app, day(6)).await);
    // Later rows of that day still go in (to the default partition).
    app.record(vec![request(&ws, &key, "/a", 200, 1, ahead)])
        .await;
    assert_eq!(
        count(&app, "SELECT COUNT(*) AS n FROM request_log_default").await,
        2
    );
}
