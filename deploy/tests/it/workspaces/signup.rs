use crate::helpers::{Options, TestApp};
use serde_json::json;
use svc_auth::domain::session::SignupMode;

#[tokio::test(flavor = "multi_thread")]
async fn sign_up_is_by_invitation_unless_opened() {
    let app = TestApp::spawn().await;
    let body = json!({"email": "ann@acme.test", "password": "a long enough secret", "name": "Ann", "workspace_name": "Acme"});
    let (s, b) = app
        .send(app.http.post(app.url("/api/auth/register")).json(&body))
        .await;
    assert_eq!(s, 403, "{b}");
    assert!(b["error"].as_str().unwrap().contains("invitation"), "{b}");
    app.stack.stop().await;

    let app = TestApp::spawn_with(Options {
        signup: SignupMode::Open,
        ..Options::default()
    })
    .await;
    let register =
        |body: serde_json::Value| app.http.post(app.url("/api/auth/register")).json(&body);
    let (s, b) = app.send(register(body.clone())).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["role"], "owner");
    assert_eq!(b["workspace"]["name"], "Acme");
    let (s, me) = app
        .send(app.get_as(b["token"].as_str().unwrap(), "/api/auth/me"))
        .await;
    assert_eq!((s, me["role"].as_str()), (200, Some("owner")));
    // Logging in afterwards works with the same password.
    app.login("ann@acme.test", "a long enough secret").await;

    let (s, b) = app.send(register(body.clone())).await;
    assert_eq!(s, 409, "{b}");
    assert_eq!(b["details"]["field"], "email");
    for (patch, field) in [
        (
            json!({"email": "bob@acme.test", "password": "short"}),
            "password",
        ),
        (
            json!({"email": "bob@acme.test", "password": "bob@acme.test"}),
            "password",
        ),
        (json!({"email": "not-an-email"}), "email"),
        (
            json!({"email": "bob@acme.test", "workspace_name": " "}),
            "workspace_name",
        ),
        (json!({"email": "bob@acme.test", "name": ""}), "name"),
    ] {
        let mut b = body.clone();
        for (k, v) in patch.as_object().unwrap() {
            b[k] = v.clone();
        }
        let (s, e) = app.send(register(b)).await;
        assert_eq!(
            (s, e["details"]["field"].as_str()),
            (400, Some(field)),
            "{e}"
        );
    }
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_lists_creates_reads_and_changes_workspaces() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let stranger = app.owner("Elsewhere").await;

    let (s, b) = app
        .send(
            app.post_as(&owner.token, "/api/workspaces")
                .json(&json!({"name": "Second", "timezone": "America/New_York"})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["role"], "owner");
    assert_eq!(b["workspace"]["timezone"], "America/New_York");
    assert_eq!(b["workspace"]["default_currency"], "USD");
    let second = b["workspace"]["id"].as_str().unwrap().to_owned();

    let (s, b) = app.send(app.get_as(&owner.token, "/api/workspaces")).await;
    assert_eq!(s, 200);
    let names: Vec<_> = b["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["workspace"]["name"].as_str().unwrap(),
                w["role"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(names, [("Acme", "owner"), ("Second", "owner")]);

    let path = format!("/api/workspaces/{second}");
    let (s, b) = app
        .send(
            app.put_as(&owner.token, &path)
                .json(&json!({"timezone": "Europe/Paris", "default_currency": "eur"})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["workspace"]["timezone"], "Europe/Paris");
    assert_eq!(b["workspace"]["default_currency"], "EUR");
    assert_eq!(b["workspace"]["name"], "Second");
    for (body, field) in [
        (json!({"timezone": "Mars/Olympus"}), "timezone"),
        (json!({"default_currency": "EURO"}), "default_currency"),
        (json!({"name": ""}), "name"),
    ] {
        let (s, e) = app.send(app.put_as(&owner.token, &path).json(&body)).await;
        assert_eq!(
            (s, e["details"]["field"].as_str()),
            (400, Some(field)),
            "{e}"
        );
    }
    // Another tenant's workspace does not exist for this caller.
    let (s, _) = app.send(app.get_as(&stranger.token, &path)).await;
    assert_eq!(s, 404);
    let (s, _) = app
        .send(
            app.put_as(&stranger.token, &path)
                .json(&json!({"name": "Mine"})),
        )
        .await;
    assert_eq!(s, 404);
    let (s, e) = app
        .send(app.get_as(&owner.token, "/api/workspaces/not-a-uuid"))
        .await;
    assert_eq!((s, e["details"]["field"].as_str()), (400, Some("id")));
    // A key cannot manage workspaces.
    let (_, key) = app.key(&owner.token, &["contacts:read"]).await;
    assert_eq!(app.get_with_key("/api/workspaces", &key).await.0, 403);
    app.stack.stop().await;
}
