//! Per-key IP allowlists: single addresses and CIDR ranges, IPv4 and IPv6, judged on the
//! socket peer, or on `X-Forwarded-For` only behind a configured trusted proxy.

use crate::helpers::{Options, TestApp, within};
use serde_json::{Value, json};
use std::time::Duration;

async fn me(app: &TestApp, key: &str, forwarded_for: Option<&str>) -> (u16, Value) {
    let mut r = app
        .http
        .get(app.url("/api/auth/me"))
        .header("x-api-key", key);
    if let Some(xff) = forwarded_for {
        r = r.header("x-forwarded-for", xff);
    }
    app.send(r).await
}

async fn key_for(app: &TestApp, token: &str, allowed: Value) -> (String, String, Value) {
    app.create_key(
        token,
        json!({"name": "office", "scopes": ["contacts:read"], "allowed_ips": allowed}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_works_only_from_its_allowed_addresses() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    // The tests connect from 127.0.0.1.
    let (_, exact, created) = key_for(&app, &owner.token, json!(["127.0.0.1"])).await;
    assert_eq!(created["data"]["allowed_ips"], json!(["127.0.0.1/32"]));
    assert_eq!(me(&app, &exact, None).await.0, 200);
    let (_, range, _) = key_for(&app, &owner.token, json!(["10.0.0.0/8", "127.0.0.0/8"])).await;
    assert_eq!(me(&app, &range, None).await.0, 200);

    let (id, elsewhere, _) = key_for(&app, &owner.token, json!(["203.0.113.0/24"])).await;
    let (s, body) = me(&app, &elsewhere, None).await;
    assert_eq!(s, 403);
    assert_eq!(body["code"], "IP_NOT_ALLOWED");
    assert_eq!(body["details"]["client_ip"], "127.0.0.1");
    assert!(body["error"].as_str().unwrap().contains("allowed_ips"));
    // Without a trusted proxy configured, a forged X-Forwarded-For changes nothing.
    assert_eq!(me(&app, &elsewhere, Some("203.0.113.9")).await.0, 403);

    // Widening the list takes effect on the cached key at once; clearing it opens the key.
    let (s, updated) = app
        .send(
            app.put_as(&owner.token, &format!("/api/api-keys/{id}"))
                .json(&json!({"allowed_ips": ["203.0.113.0/24", "127.0.0.1"]})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        updated["data"]["allowed_ips"],
        json!(["203.0.113.0/24", "127.0.0.1/32"])
    );
    let opened = within(Duration::from_secs(1), || async {
        me(&app, &elsewhere, None).await.0 == 200
    })
    .await;
    assert!(opened.is_some());
    app.send(
        app.put_as(&owner.token, &format!("/api/api-keys/{id}"))
            .json(&json!({"allowed_ips": ["198.51.100.1"]})),
    )
    .await;
    let closed = within(Duration::from_secs(1), || async {
        me(&app, &elsewhere, None).await.0 == 403
    })
    .await;
    assert!(closed.is_some());
    let (s, cleared) = app
        .send(
            app.put_as(&owner.token, &format!("/api/api-keys/{id}"))
                .json(&json!({"clear_allowed_ips": true})),
        )
        .await;
    assert_eq!((s, &cleared["data"]["allowed_ips"]), (200, &json!([])));
    let reopened = within(Duration::from_secs(1), || async {
        me(&app, &elsewhere, None).await.0 == 200
    })
    .await;
    assert!(reopened.is_some());
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_entries_are_refused_naming_the_entry() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    for (bad, field) in [
        (json!(["10.0.0.1", "10.0.0.300"]), "allowed_ips[1]"),
        (json!(["2001:db8::/129"]), "allowed_ips[0]"),
        (json!(["example.com"]), "allowed_ips[0]"),
    ] {
        let (s, body) = app
            .send(
                app.post_as(&owner.token, "/api/api-keys")
                    .json(&json!({"name": "k", "scopes": ["contacts:read"], "allowed_ips": bad})),
            )
            .await;
        assert_eq!(s, 400, "{bad}");
        assert_eq!(body["details"]["field"], field);
    }
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_a_trusted_proxy_the_forwarded_address_counts_v4_and_v6() {
    let app = TestApp::spawn_with(Options {
        trusted_proxies: vec!["127.0.0.1/32".into()],
        ..Options::default()
    })
    .await;
    let owner = app.owner("Acme").await;
    let (_, v6, _) = key_for(&app, &owner.token, json!(["2001:db8::/32"])).await;
    assert_eq!(me(&app, &v6, Some("2001:db8:0:1::7")).await.0, 200);
    let (s, body) = me(&app, &v6, Some("2001:db9::7")).await;
    assert_eq!(s, 403);
    assert_eq!(body["details"]["client_ip"], "2001:db9::7");
    let (s, body) = me(&app, &v6, None).await;
    assert_eq!(
        (s, &body["details"]["client_ip"]),
        (403, &json!("127.0.0.1"))
    );

    let (_, v4, _) = key_for(&app, &owner.token, json!(["198.51.100.7"])).await;
    assert_eq!(me(&app, &v4, Some("198.51.100.7")).await.0, 200);
    // A client cannot prepend its way in: only the hop our proxy appended counts.
    let (s, body) = me(&app, &v4, Some("198.51.100.7, 192.0.2.1")).await;
    assert_eq!(
        (s, &body["details"]["client_ip"]),
        (403, &json!("192.0.2.1"))
    );
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_address_does_not_spend_the_key_quota() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (id, key, _) = app
        .create_key(
            &owner.token,
            json!({"name": "k", "scopes": ["contacts:read"], "allowed_ips": ["203.0.113.1"], "rate_limit_override": 2}),
        )
        .await;
    for _ in 0..4 {
        assert_eq!(me(&app, &key, None).await.0, 403);
    }
    app.send(
        app.put_as(&owner.token, &format!("/api/api-keys/{id}"))
            .json(&json!({"clear_allowed_ips": true})),
    )
    .await;
    let open = within(Duration::from_secs(1), || async {
        me(&app, &key, None).await.0 == 200
    })
    .await;
    assert!(open.is_some());
    let r = app
        .http
        .get(app.url("/api/auth/me"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "the key's own 2/min were not used by refused calls"
    );
    app.stack.stop().await;
}
