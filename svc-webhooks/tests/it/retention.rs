//! The retention setting really deletes: attempts, finished deliveries and events older than
//! it are gone from the API and from the tables, while a delivery still pending is kept with
//! its event.

use crate::{Receiver, spawn_app, within};
use crm_proto::webhooks as pb;
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use std::time::Duration;

async fn count(db: &sea_orm::DatabaseConnection, table: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

/// Moves every row's `column` of `table` two days into the past, as if it were that old.
async fn age(db: &sea_orm::DatabaseConnection, table: &str, column: &str) {
    let backend = db.get_database_backend();
    let at = chrono::Utc::now() - chrono::Duration::days(2);
    let placeholder = if backend == DatabaseBackend::Postgres {
        "$1"
    } else {
        "?"
    };
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        format!("UPDATE {table} SET {column} = {placeholder}"),
        [at.into()],
    ))
    .await
    .unwrap();
}

#[tokio::test]
async fn old_payloads_and_attempts_are_deleted_and_pending_work_is_kept() {
    let app = spawn_app(|c| {
        c.retention_days = 1;
        c.retention_sweep_secs = 1;
    })
    .await;
    let ok = Receiver::start(200).await;
    let down = Receiver::start(503).await;
    let delivered_to = app.subscribe(&ok.url, &["contact.*"], None).await;
    // Its deliveries stay pending (next retry minutes away) after their first attempt.
    app.subscribe(&down.url, &["contact.*"], None).await;
    app.publish(2).await;
    within(Duration::from_secs(10), "first attempts", || {
        ok.delivered().len() == 2 && down.received().len() == 2
    })
    .await;
    let listed = app
        .webhooks()
        .list_webhook_deliveries(app.as_owner(pb::ListWebhookDeliveriesRequest {
            id: delivered_to.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let delivery_id = listed.data[0].id.clone();

    let db = app.db().await;
    assert_eq!(count(&db, "webhook_attempts").await, 4);
    age(&db, "webhook_attempts", "attempted_at").await;
    age(&db, "webhook_deliveries", "created_at").await;
    age(&db, "received_events", "received_at").await;

    let mut left = (0, 0, 0);
    for _ in 0..60 {
        left = (
            count(&db, "webhook_attempts").await,
            count(&db, "webhook_deliveries").await,
            count(&db, "received_events").await,
        );
        if left == (0, 2, 2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The two pending deliveries and their events are kept; everything else is gone.
    assert_eq!(left, (0, 2, 2));
    let gone = app
        .webhooks()
        .get_webhook_delivery(app.as_owner(pb::GetWebhookDeliveryRequest {
            id: delivered_to,
            delivery_id,
        }))
        .await
        .unwrap_err();
    assert_eq!(gone.code(), tonic::Code::NotFound);
}
