use super::me_at;
use crate::helpers::{TestApp, within};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn a_password_change_stops_every_earlier_token_on_every_gateway() {
    let mut app = TestApp::spawn().await;
    let second = format!("http://{}", app.stack.start_extra_gateway().await.unwrap());
    let owner = app.owner("Acme").await;
    let other_session = app
        .login(&owner.email, "correct horse battery staple")
        .await;
    assert_eq!(me_at(&app, &second, &other_session).await.0, 200);
    let change = |current: &str, new: &str| {
        app.post_as(&owner.token, "/api/auth/password")
            .json(&json!({"current_password": current, "new_password": new}))
    };

    let (s, e) = app
        .send(change("wrong password!", "a brand new secret"))
        .await;
    assert_eq!(
        (s, e["details"]["field"].as_str()),
        (403, Some("current_password")),
        "{e}"
    );
    let (s, e) = app
        .send(change("correct horse battery staple", "short"))
        .await;
    assert_eq!(
        (s, e["details"]["field"].as_str()),
        (400, Some("new_password")),
        "{e}"
    );
    let (s, e) = app
        .send(change("correct horse battery staple", &owner.email))
        .await;
    assert_eq!(
        (s, e["details"]["field"].as_str()),
        (400, Some("new_password")),
        "{e}"
    );

    let (s, b) = app
        .send(change("correct horse battery staple", "a brand new secret"))
        .await;
    assert_eq!(s, 200, "{b}");
    let fresh = b["token"].as_str().unwrap().to_owned();
    assert_eq!(b["workspace"]["id"], owner.workspace_id.as_str());

    // Both earlier tokens stop on both gateways; the new one works.
    for token in [&owner.token, &other_session] {
        for base in [&app.base, &second] {
            let stopped = within(Duration::from_secs(1), || async {
                let (s, b) = me_at(&app, base, token).await;
                s == 401 && b["code"] == "TOKEN_REVOKED"
            })
            .await;
            assert!(stopped.is_some(), "an earlier token still works at {base}");
        }
    }
    assert_eq!(me_at(&app, &second, &fresh).await.0, 200);
    let (s, _) = app
        .send(
            app.http
                .post(app.url("/api/auth/login"))
                .json(&json!({"email": owner.email, "password": "correct horse battery staple"})),
        )
        .await;
    assert_eq!(s, 401);
    app.login(&owner.email, "a brand new secret").await;
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_logins_slow_down_per_account_alike_for_unknown_emails() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let attempt = |email: &str, password: &str| {
        app.http
            .post(app.url("/api/auth/login"))
            .json(&json!({"email": email, "password": password}))
    };
    for email in [owner.email.as_str(), "nobody@acme.test"] {
        for _ in 0..5 {
            assert_eq!(app.send(attempt(email, "wrong password")).await.0, 401);
        }
        // The sixth attempt waits, even with the right password, and says for how long.
        let (s, b) = app
            .send(attempt(email, "correct horse battery staple"))
            .await;
        assert_eq!(
            (s, b["code"].as_str()),
            (429, Some("LOGIN_THROTTLED")),
            "{b}"
        );
    }
    // The other account is not slowed by this one.
    let other = app.owner("Elsewhere").await;
    assert_eq!(
        app.send(attempt(&other.email, "correct horse battery staple"))
            .await
            .0,
        200
    );
    // After the delay, the right password works again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (s, b) = app
        .send(attempt(&owner.email, "correct horse battery staple"))
        .await;
    assert_eq!(s, 200, "{b}");
    app.stack.stop().await;
}
