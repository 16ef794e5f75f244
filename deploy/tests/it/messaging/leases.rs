//! Leases and pacing: a job held by a worker that died is sent by another once the lease
//! runs out; a channel's per-second limit holds.

use super::*;
use sea_orm::{ConnectionTrait, Statement};

#[tokio::test(flavor = "multi_thread")]
async fn a_job_claimed_by_a_dead_worker_is_sent_after_its_lease() {
    let app = spawn_with(svc_messaging::MessagingSettings {
        lease_secs: 1,
        ..Default::default()
    })
    .await;
    let a = app.owner("Alpha").await;
    let c = contact(&app, &a.token, &[]).await;
    let id = schedule(
        &app,
        &a.token,
        "/api/schedule-sms",
        sms(&a.workspace_id, &c, json!({"delay": 60_000})),
    )
    .await;
    // A worker of another process claimed it and died: `sending`, its lease running 3 s.
    let db = messaging_db(&app).await;
    let backend = db.get_database_backend();
    let lease = chrono::Utc::now() + chrono::Duration::milliseconds(3000);
    let sql = match backend {
        sea_orm::DatabaseBackend::Postgres => {
            "UPDATE message_jobs SET status = 'sending', claim_token = 'dead', locked_until = $1, next_attempt_at = $2 WHERE id = $3"
        }
        _ => {
            "UPDATE message_jobs SET status = 'sending', claim_token = 'dead', locked_until = ?, next_attempt_at = ? WHERE id = ?"
        }
    };
    let changed = db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [lease.into(), chrono::Utc::now().into(), id.clone().into()],
        ))
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(changed, 1);
    assert_eq!(job(&app, &a.token, &id).await["status"], "sending");
    // Cancelling a job being sent is refused.
    let (s, _) = app
        .send(app.delete_as(&a.token, &format!("/api/messages/{id}")))
        .await;
    assert_eq!(s, 409);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        job(&app, &a.token, &id).await["status"],
        "sending",
        "taken over before the lease ran out"
    );
    let sent = settled(&app, &a.token, &id, Duration::from_secs(10)).await;
    assert_eq!(sent["status"], "sent", "{sent}");
    assert_eq!(sent["attempts"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_channels_per_second_limit_paces_the_workspace() {
    let app = spawn_with(svc_messaging::MessagingSettings {
        sms_per_second: 2,
        ..Default::default()
    })
    .await;
    let a = app.owner("Alpha").await;
    let c = contact(&app, &a.token, &[]).await;
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(
            schedule(
                &app,
                &a.token,
                "/api/schedule-sms",
                sms(&a.workspace_id, &c, json!({})),
            )
            .await,
        );
    }
    let mut sent_at = Vec::new();
    for id in &ids {
        let sent = settled(&app, &a.token, id, Duration::from_secs(15)).await;
        assert_eq!(sent["status"], "sent", "{sent}");
        sent_at.push(millis(&sent["sentAt"]));
    }
    sent_at.sort();
    // Nothing dropped; 2 per second means three seconds' budgets, so the sends span more
    // than a second (unpaced, the log provider sends all six within milliseconds).
    let span = sent_at[5] - sent_at[0];
    assert!(span > 1000, "six sends within {span} ms: {sent_at:?}");
}
