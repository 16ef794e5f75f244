//! Several worker processes on one queue, and cancels racing sends: every job goes out once,
//! and a cancel that answers 200 means the message never went out.

use super::*;
use tokio_util::sync::CancellationToken;

/// Starts another svc-messaging process on the stack's database (as a second replica would
/// run), sending through `settings`; stopped with the returned token.
async fn second_process(
    app: &TestApp,
    settings: svc_messaging::MessagingSettings,
) -> CancellationToken {
    let urls = app.stack.backend_urls();
    let config = svc_messaging::Config {
        database_url: app
            .stack
            .auth_database_url
            .replace("/auth.db", "/messaging.db"),
        service_secret: app.service_secret.clone(),
        events_sink_url: urls["webhooks"].clone(),
        pipeline_url: urls["pipeline"].clone(),
        auth_url: urls["auth"].clone(),
        messaging: settings,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(svc_messaging::serve(config, listener, stop.clone()));
    stop
}

#[tokio::test(flavor = "multi_thread")]
async fn two_worker_processes_send_every_job_once() {
    let (base, fake) = twilio::start_fake().await;
    let app = spawn_with(twilio::settings(&base)).await;
    let other = second_process(&app, twilio::settings(&base)).await;
    let a = app.owner("Alpha").await;
    let c = contact(&app, &a.token, &[]).await;
    // All due at the same instant, so both processes' workers race for them.
    let at = (chrono::Utc::now() + chrono::Duration::milliseconds(1500)).to_rfc3339();
    let mut ids = Vec::new();
    for n in 0..40 {
        let body = sms(
            &a.workspace_id,
            &c,
            json!({"message": format!("job {n}"), "scheduledTime": at}),
        );
        ids.push(schedule(&app, &a.token, "/api/schedule-sms", body).await);
    }
    for id in &ids {
        let sent = settled(&app, &a.token, id, Duration::from_secs(20)).await;
        assert_eq!(sent["status"], "sent", "{sent}");
        assert_eq!(sent["attempts"], 1, "{sent}");
    }
    let fake = fake.lock().unwrap();
    let mut bodies: Vec<&str> = fake.accepted.iter().map(|(_, b)| b.as_str()).collect();
    bodies.sort();
    let mut expected: Vec<String> = (0..40).map(|n| format!("job {n}")).collect();
    expected.sort();
    assert_eq!(bodies, expected, "each job sent exactly once");
    other.cancel();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancel_racing_a_send_either_wins_or_says_409() {
    let (base, fake) = twilio::start_fake().await;
    let app = spawn_with(twilio::settings(&base)).await;
    let a = app.owner("Alpha").await;
    let c = contact(&app, &a.token, &[]).await;
    let mut outcomes = Vec::new();
    for n in 0..20u32 {
        let body = sms(
            &a.workspace_id,
            &c,
            json!({"message": format!("race {n}"), "delay": 200}),
        );
        let id = schedule(&app, &a.token, "/api/schedule-sms", body).await;
        // Cancel around the due time: before, during, or after the claim.
        tokio::time::sleep(Duration::from_millis(150 + u64::from(n % 10) * 10)).await;
        let (s, b) = app
            .send(app.delete_as(&a.token, &format!("/api/messages/{id}")))
            .await;
        assert!(s == 200 || s == 409, "{s} {b}");
        outcomes.push((n, id, s));
    }
    let mut cancelled = 0;
    for (n, id, s) in &outcomes {
        let end = settled(&app, &a.token, id, Duration::from_secs(10)).await;
        let body = format!("race {n}");
        let times_sent = fake
            .lock()
            .unwrap()
            .accepted
            .iter()
            .filter(|(_, b)| *b == body)
            .count();
        if *s == 200 {
            cancelled += 1;
            assert_eq!(end["status"], "cancelled", "{end}");
            assert_eq!(times_sent, 0, "job {n} was cancelled yet sent");
        } else {
            assert_eq!(end["status"], "sent", "{end}");
            assert_eq!(times_sent, 1, "job {n}");
        }
    }
    // Some cancels came in time: the race was run, not only lost.
    assert!(cancelled > 0, "{outcomes:?}");
}
