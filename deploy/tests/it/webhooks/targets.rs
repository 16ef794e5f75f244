//! SSRF: private, loopback, link-local and CGNAT targets are refused unless allow-listed.

use super::{app_reaching_loopback, create, created, refused};
use crate::helpers::TestApp;
use serde_json::json;

#[tokio::test]
async fn private_loopback_link_local_and_cgnat_targets_are_refused_unless_allow_listed() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Hooks").await;
    for url in [
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://100.64.0.1/hook",
        "http://127.0.0.1:9/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
    ] {
        refused(
            &app,
            app.post_as(&owner.token, "/api/v1/webhooks")
                .json(&json!({"url": url, "events": ["*"]})),
            "url",
        )
        .await;
    }
    app.stack.stop().await;

    // Allow-listing 127.0.0.1 opens exactly that address.
    let app = app_reaching_loopback().await;
    let owner = app.owner("Hooks").await;
    created(
        &app,
        &owner.token,
        json!({"url": "http://127.0.0.1:9/hook", "events": ["*"]}),
    )
    .await;
    // `localhost` may resolve to ::1 too, which is not allow-listed: a name is refused when
    // any of its addresses is, so it is accepted only when it means 127.0.0.1 alone.
    let (s, body) = create(
        &app,
        &owner.token,
        json!({"url": "http://localhost:9/hook", "events": ["*"]}),
    )
    .await;
    assert!(
        s == 201 || s == 200 || body["details"]["field"] == "url",
        "{s} {body}"
    );
    for url in [
        "http://10.0.0.1/hook",
        "http://[::1]/hook",
        "http://100.64.0.1/",
    ] {
        refused(
            &app,
            app.post_as(&owner.token, "/api/v1/webhooks")
                .json(&json!({"url": url, "events": ["*"]})),
            "url",
        )
        .await;
    }
    let id = created(
        &app,
        &owner.token,
        json!({"url": "http://127.0.0.1:9/hook", "events": ["*"]}),
    )
    .await["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    refused(
        &app,
        app.put_as(&owner.token, &format!("/api/v1/webhooks/{id}"))
            .json(&json!({"url": "http://169.254.169.254/"})),
        "url",
    )
    .await;
    app.stack.stop().await;
}
