//! Seed 003's partner clients: CRUD with filters, keys that stay within their client's
//! scopes and inherit its tier, client status and deletion reaching the keys, usage and
//! dashboard numbers equal to the requests sent, and the tier listing.

use crate::helpers::TestApp;
use serde_json::{Value, json};
use std::time::Duration;

/// Registers a client; returns its `data`.
pub(crate) async fn new_client(app: &TestApp, token: &str, body: Value) -> Value {
    let (s, r) = app
        .send(app.post_as(token, "/api/v1/api-clients").json(&body))
        .await;
    assert_eq!(s, 201, "{r}");
    r["data"].clone()
}

fn partner(name: &str, email: &str, tier: &str) -> Value {
    json!({
        "name": name,
        "description": "Integration for lead management",
        "redirectUris": ["https://example.com/callback"],
        "website": "https://example.com",
        "contactEmail": email,
        "rateLimitTier": tier,
        "scopes": ["leads:read", "leads:write", "workspace_members:read"]
    })
}

async fn list(app: &TestApp, token: &str, query: &str) -> Value {
    let (s, r) = app
        .send(app.get_as(token, &format!("/api/v1/api-clients{query}")))
        .await;
    assert_eq!(s, 200, "{query}: {r}");
    r
}

fn names(list: &Value) -> Vec<&str> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn clients_are_created_listed_filtered_updated_and_deleted() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let a = new_client(
        &app,
        &owner.token,
        partner("Alpha Leads", "tech@alpha.com", "standard"),
    )
    .await;
    assert_eq!(a["contactEmail"], "tech@alpha.com");
    assert_eq!(a["rateLimitTier"], "standard");
    assert_eq!(a["status"], "active");
    assert_eq!(a["redirectUris"], json!(["https://example.com/callback"]));
    assert_eq!(
        a["scopes"],
        json!(["contacts:read", "contacts:write", "workspace_members:read"]),
        "seed 003's leads are our contacts"
    );
    new_client(
        &app,
        &owner.token,
        partner("Beta CRM", "ops@beta.io", "premium"),
    )
    .await;
    new_client(
        &app,
        &owner.token,
        partner("Gamma", "dev@gamma.dev", "standard"),
    )
    .await;

    assert_eq!(
        names(&list(&app, &owner.token, "").await),
        vec!["Gamma", "Beta CRM", "Alpha Leads"]
    );
    assert_eq!(
        names(&list(&app, &owner.token, "?rateLimitTier=standard").await),
        vec!["Gamma", "Alpha Leads"]
    );
    assert_eq!(
        names(&list(&app, &owner.token, "?contactEmail=ops@beta.io").await),
        vec!["Beta CRM"]
    );
    assert_eq!(
        names(&list(&app, &owner.token, "?search=ALPHA").await),
        vec!["Alpha Leads"]
    );
    assert_eq!(
        names(&list(&app, &owner.token, "?search=gamma.dev").await),
        vec!["Gamma"]
    );
    let page = list(&app, &owner.token, "?page=2&limit=2").await;
    assert_eq!(names(&page), vec!["Alpha Leads"]);
    assert_eq!(
        page["pagination"],
        json!({"page": 2, "limit": 2, "total": 3, "total_pages": 2})
    );

    let id = a["id"].as_str().unwrap();
    let (s, updated) = app
        .send(
            app.put_as(&owner.token, &format!("/api/v1/api-clients/{id}"))
                .json(&json!({"status": "suspended", "rateLimitTier": "enterprise"})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(updated["data"]["status"], "suspended");
    assert_eq!(
        names(&list(&app, &owner.token, "?status=suspended").await),
        vec!["Alpha Leads"]
    );
    let (s, got) = app
        .send(app.get_as(&owner.token, &format!("/api/v1/api-clients/{id}")))
        .await;
    assert_eq!(
        (s, &got["data"]["rateLimitTier"]),
        (200, &json!("enterprise"))
    );

    let (s, deleted) = app
        .send(app.delete_as(&owner.token, &format!("/api/v1/api-clients/{id}")))
        .await;
    assert_eq!(s, 200);
    assert_eq!(deleted["revokedKeys"], 0);
    let (s, _) = app
        .send(app.get_as(&owner.token, &format!("/api/v1/api-clients/{id}")))
        .await;
    assert_eq!(s, 404);
    assert_eq!(list(&app, &owner.token, "").await["pagination"]["total"], 2);

    for (body, field) in [
        (
            json!({"contactEmail": "a@b.co", "scopes": ["contacts:read"]}),
            "name",
        ),
        (
            json!({"name": "x", "contactEmail": "nope", "scopes": ["contacts:read"]}),
            "contactEmail",
        ),
        (
            json!({"name": "x", "contactEmail": "a@b.co", "scopes": ["contacts:read"], "rateLimitTier": "gold"}),
            "rateLimitTier",
        ),
        (json!({"name": "x", "contactEmail": "a@b.co"}), "scopes"),
        (
            json!({"name": "x", "contactEmail": "a@b.co", "scopes": ["contacts:read"], "redirectUris": ["ftp://x"]}),
            "redirectUris[0]",
        ),
    ] {
        let (s, e) = app
            .send(app.post_as(&owner.token, "/api/v1/api-clients").json(&body))
            .await;
        assert_eq!((s, &e["details"]["field"]), (400, &json!(field)), "{body}");
    }
    let (s, _) = app
        .send(app.get_as(&owner.token, "/api/v1/api-clients?status=gone"))
        .await;
    assert_eq!(s, 400);

    // Only owners and admins manage clients; in another workspace they are not found.
    let agent = app
        .member(&owner, svc_auth::domain::role::Role::Agent)
        .await;
    assert_eq!(
        app.send(app.get_as(&agent, "/api/v1/api-clients")).await.0,
        403
    );
    let other = app.owner("Other").await;
    assert_eq!(list(&app, &other.token, "").await["pagination"]["total"], 0);
    app.stack.stop().await;
}

async fn client_key(app: &TestApp, token: &str, client_id: &str, scopes: Value) -> (u16, Value) {
    app.send(
        app.post_as(token, "/api/v1/api-keys")
            .json(&json!({"clientId": client_id, "name": "Production Key", "scopes": scopes})),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn client_keys_stay_within_the_client_and_follow_it() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let c = new_client(
        &app,
        &owner.token,
        partner("Alpha", "tech@alpha.com", "standard"),
    )
    .await;
    let cid = c["id"].as_str().unwrap().to_owned();

    let (s, e) = client_key(
        &app,
        &owner.token,
        &cid,
        json!(["contacts:read", "pipelines:write"]),
    )
    .await;
    assert_eq!((s, &e["details"]["field"]), (400, &json!("scopes")));
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("exceed the API client's scopes")
    );
    let (s, created) = client_key(
        &app,
        &owner.token,
        &cid,
        json!(["leads:read", "workspace_members:read"]),
    )
    .await;
    assert_eq!(s, 201);
    let key = created["data"]["key"].as_str().unwrap().to_owned();
    let kid = created["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(created["data"]["client_id"], cid.as_str());

    // The key inherits the client's tier.
    let r = app
        .http
        .get(app.url("/api/agents"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["ratelimit-policy"],
        "\"minute\";q=120;w=60, \"hour\";q=5000;w=3600, \"day\";q=50000;w=86400, \"route\";q=100;w=60"
    );
    let (s, keys) = app
        .send(app.get_as(&owner.token, &format!("/api/v1/api-clients/{cid}/api-keys")))
        .await;
    assert_eq!(s, 200);
    assert_eq!(keys["data"].as_array().unwrap().len(), 1);
    assert_eq!(keys["data"][0]["id"], kid.as_str());

    // Narrowing the client's scopes narrows its keys at once.
    let (s, _) = app
        .send(
            app.put_as(&owner.token, &format!("/api/v1/api-clients/{cid}"))
                .json(&json!({"scopes": ["contacts:read"]})),
        )
        .await;
    assert_eq!(s, 200);
    let narrowed = crate::helpers::within(Duration::from_secs(1), || async {
        app.get_with_key("/api/agents", &key).await.0 == 403
    })
    .await;
    assert!(narrowed.is_some(), "the key kept a scope its client lost");
    assert_eq!(app.get_with_key("/api/auth/me", &key).await.0, 200);

    // Suspending the client stops its keys; reactivating restores them.
    app.send(
        app.put_as(&owner.token, &format!("/api/v1/api-clients/{cid}"))
            .json(&json!({"status": "suspended"})),
    )
    .await;
    let stopped = crate::helpers::within(Duration::from_secs(1), || async {
        app.get_with_key("/api/auth/me", &key).await.0 == 401
    })
    .await;
    assert!(stopped.is_some());
    let (s, e) = client_key(&app, &owner.token, &cid, json!(["contacts:read"])).await;
    assert_eq!(
        (s, &e["details"]["field"]),
        (400, &json!("clientId")),
        "no new keys for a suspended client"
    );
    app.send(
        app.put_as(&owner.token, &format!("/api/v1/api-clients/{cid}"))
            .json(&json!({"status": "active"})),
    )
    .await;
    let back = crate::helpers::within(Duration::from_secs(1), || async {
        app.get_with_key("/api/auth/me", &key).await.0 == 200
    })
    .await;
    assert!(back.is_some());

    // Seed 003's revoke through the client.
    let (s, revoked) = app
        .send(app.delete_as(
            &owner.token,
            &format!("/api/v1/api-clients/{cid}/api-keys/{kid}"),
        ))
        .await;
    assert_eq!((s, &revoked["data"]["status"]), (200, &json!("revoked")));
    let stopped = crate::helpers::within(Duration::from_secs(1), || async {
        let (s, b) = app.get_with_key("/api/auth/me", &key).await;
        s == 401 && b["code"] == json!("API_KEY_REVOKED")
    })
    .await;
    assert!(stopped.is_some(), "a revoked client key still works");

    // Deleting the client revokes the keys it still has.
    let (_, second) = client_key(&app, &owner.token, &cid, json!(["contacts:read"])).await;
    let second_key = second["data"]["key"].as_str().unwrap().to_owned();
    assert_eq!(app.get_with_key("/api/auth/me", &second_key).await.0, 200);
    let (_, deleted) = app
        .send(app.delete_as(&owner.token, &format!("/api/v1/api-clients/{cid}")))
        .await;
    assert_eq!(deleted["revokedKeys"], 1);
    let stopped = crate::helpers::within(Duration::from_secs(1), || async {
        app.get_with_key("/api/auth/me", &second_key).await.0 == 401
    })
    .await;
    assert!(stopped.is_some(), "a deleted client's key still works");

    // A client of another workspace cannot be named.
    let other = app.owner("Other").await;
    let theirs = new_client(&app, &other.token, partner("Theirs", "x@y.io", "basic")).await;
    let (s, e) = client_key(
        &app,
        &owner.token,
        theirs["id"].as_str().unwrap(),
        json!(["contacts:read"]),
    )
    .await;
    assert_eq!((s, &e["details"]["field"]), (400, &json!("clientId")));
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn client_usage_and_dashboard_count_the_requests_sent() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let c = new_client(
        &app,
        &owner.token,
        partner("Alpha", "tech@alpha.com", "premium"),
    )
    .await;
    let cid = c["id"].as_str().unwrap().to_owned();
    let mut keys = Vec::new();
    for _ in 0..2 {
        let (_, k) = client_key(&app, &owner.token, &cid, json!(["contacts:read"])).await;
        keys.push(k["data"]["key"].as_str().unwrap().to_owned());
    }
    for _ in 0..3 {
        assert_eq!(app.get_with_key("/api/auth/me", &keys[0]).await.0, 200);
    }
    assert_eq!(app.get_with_key("/api/auth/me", &keys[1]).await.0, 200);
    assert_eq!(app.get_with_key("/api/agents", &keys[1]).await.0, 403);
    // A key outside the client is not counted.
    let (_, own) = app.key(&owner.token, &["contacts:read"]).await;
    assert_eq!(app.get_with_key("/api/auth/me", &own).await.0, 200);

    let usage_path = format!("/api/v1/api-clients/{cid}/usage");
    let start = std::time::Instant::now();
    let usage = loop {
        let (_, u) = app.send(app.get_as(&owner.token, &usage_path)).await;
        if u["totalRequests"] == 5 {
            break u;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "{u}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(usage["successfulRequests"], 4);
    assert_eq!(usage["failedRequests"], 1);
    assert_eq!(
        usage["requestsByEndpoint"][0],
        json!({"endpoint": "/api/auth/me", "count": 4, "avgResponseTime": usage["requestsByEndpoint"][0]["avgResponseTime"]})
    );
    assert_eq!(
        usage["topErrorCodes"],
        json!([{"statusCode": 403, "count": 1}])
    );
    let (_, hourly) = app
        .send(app.get_as(&owner.token, &format!("{usage_path}?groupBy=hour")))
        .await;
    let hours = hourly["requestsByTime"].as_array().unwrap();
    assert!(
        hours
            .iter()
            .all(|h| h["time"].as_str().unwrap().ends_with(":00:00Z"))
    );
    assert_eq!(
        hours
            .iter()
            .map(|h| h["count"].as_u64().unwrap())
            .sum::<u64>(),
        5
    );

    let (s, d) = app
        .send(app.get_as(
            &owner.token,
            &format!("/api/v1/api-clients/{cid}/dashboard"),
        ))
        .await;
    assert_eq!(s, 200);
    assert_eq!(d["client"]["name"], "Alpha");
    assert_eq!(d["totalKeys"], 2);
    assert_eq!(d["activeKeys"], 2);
    assert_eq!(d["usage"]["totalRequests"], 5);
    assert_eq!(
        d["rateLimit"],
        json!({"requestsPerMinute": 300, "requestsPerHour": 15000, "requestsPerDay": 150000, "burstLimit": 50})
    );
    assert_eq!(d["webhookStatus"], "not_configured");
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tiers_are_listed_with_the_seed_numbers() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (_, key) = app.key(&owner.token, &["contacts:read"]).await;
    let (s, r) = app.get_with_key("/api/v1/rate-limits", &key).await;
    assert_eq!(s, 200);
    assert_eq!(
        r["data"],
        json!({
            "basic": {"requestsPerMinute": 60, "requestsPerHour": 1000, "requestsPerDay": 10000, "burstLimit": 10},
            "standard": {"requestsPerMinute": 120, "requestsPerHour": 5000, "requestsPerDay": 50000, "burstLimit": 20},
            "premium": {"requestsPerMinute": 300, "requestsPerHour": 15000, "requestsPerDay": 150000, "burstLimit": 50},
            "enterprise": {"requestsPerMinute": 600, "requestsPerHour": 50000, "requestsPerDay": 500000, "burstLimit": 100}
        })
    );
    assert_eq!(
        app.send(app.http.get(app.url("/api/v1/rate-limits")))
            .await
            .0,
        401
    );
    app.stack.stop().await;
}
