//! Seed 003 limits partners per client: the keys of a client share its tier's buckets, so
//! spreading calls over more keys buys no more requests, while a key's own override is that
//! key's alone.

use crate::{
    api_clients::new_client,
    client_admission::{admission, assert_bucket, expected_source},
    helpers::TestApp,
    rate_limits::{call, key_with},
};
use serde_json::{Value, json};

/// A client on the basic tier (burst 10) allowed `contacts:read`; returns its id.
pub(crate) async fn basic_client(app: &TestApp, token: &str) -> String {
    let c = new_client(
        app,
        token,
        json!({
            "name": "Alpha",
            "contactEmail": "tech@alpha.com",
            "rateLimitTier": "basic",
            "scopes": ["contacts:read"]
        }),
    )
    .await;
    c["id"].as_str().unwrap().to_owned()
}

/// A key of client `client_id` with `extra` settings; returns the full key.
pub(crate) async fn client_key(
    app: &TestApp,
    token: &str,
    client_id: &str,
    extra: Value,
) -> String {
    let mut body = json!({"clientId": client_id, "scopes": ["contacts:read"]});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    key_with(app, token, body).await.1
}

/// Status, X-RateLimit-Limit, X-RateLimit-Remaining and the body of GET /api/auth/me.
async fn me(app: &TestApp, key: &str) -> (u16, String, String, Value) {
    let (s, h, body) = call(app, &app.base, "/api/auth/me", key).await;
    (s, h.limit.unwrap(), h.remaining.unwrap(), body)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clients_keys_share_its_tier_and_an_override_is_the_keys_own() {
    let started = chrono::Utc::now();
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let cid = basic_client(&app, &owner.token).await;
    let a = client_key(&app, &owner.token, &cid, json!({})).await;
    let b = client_key(&app, &owner.token, &cid, json!({})).await;
    let own = client_key(&app, &owner.token, &cid, json!({"rateLimitOverride": 200})).await;

    // Basic allows a burst of 10 for the whole client.
    let first = std::time::Instant::now();
    for i in 0..6 {
        let (s, limit, remaining, _) = me(&app, &a).await;
        assert_eq!((s, limit.as_str()), (200, "60"));
        assert_eq!(remaining, (9 - i).to_string());
    }
    for i in 0..4 {
        let (s, _, remaining, _) = me(&app, &b).await;
        assert_eq!(s, 200);
        assert_eq!(remaining, (3 - i).to_string(), "b draws on the same burst");
    }
    for key in [&a, &b] {
        let (s, _, remaining, body) = me(&app, key).await;
        assert_eq!((s, remaining.as_str()), (429, "0"));
        assert_eq!(body["details"]["window"], "minute");
        let error = body["error"].as_str().unwrap();
        assert!(
            error.contains("60 requests per minute for this API client"),
            "{error}"
        );
    }

    // The override is the key's own minute window; the client's hour and day still count it.
    let (s, limit, remaining, _) = me(&app, &own).await;
    assert_eq!((s, limit.as_str(), remaining.as_str()), (200, "200", "9"));

    // The dashboard counts the 11 accepted calls against each window, not the 2 refused.
    let path = format!("/api/v1/api-clients/{cid}/dashboard");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let windows = loop {
        let (s, d) = app.send(app.get_as(&owner.token, &path)).await;
        assert_eq!(s, 200, "{d}");
        let windows = d["rateLimitUsage"].as_array().unwrap().clone();
        if windows[2]["requestCount"] == 11 || std::time::Instant::now() > deadline {
            break windows;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    for (w, (name, limit, secs)) in windows.iter().zip([
        ("minute", 60, 60),
        ("hour", 1000, 3600),
        ("day", 10_000, 86_400),
    ]) {
        assert_eq!(
            (w["window"].as_str(), w["requestLimit"].as_u64()),
            (Some(name), Some(limit))
        );
        let reset = chrono::DateTime::parse_from_rfc3339(w["resetAt"].as_str().unwrap()).unwrap();
        let count = w["requestCount"].as_u64().unwrap();
        // A window that began after the test started (a minute turning over) holds fewer.
        if reset.timestamp() - secs <= started.timestamp() {
            assert_eq!(count, 11, "{name}: {w} {windows:?} started {started}");
        } else {
            assert!(count <= 11, "{name}: {w}");
        }
        assert_eq!(w["remaining"].as_u64(), Some(limit - count), "{w}");
    }

    // The gateways' buckets: the 10 calls of a and b in the client's minute; the override's
    // call too in its hour and day; the refused calls in none.
    let (source, buckets) = admission(&app, &owner.token, &cid).await;
    let elapsed = first.elapsed().as_secs_f64();
    assert_eq!(source, expected_source());
    assert_bucket(&buckets[0], ("minute", 60, 60, 10), 10, elapsed);
    assert_bucket(&buckets[1], ("hour", 1000, 3600, 1000), 11, elapsed);
    assert_bucket(&buckets[2], ("day", 10_000, 86_400, 10_000), 11, elapsed);
    app.stack.stop().await;
}
