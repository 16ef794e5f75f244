//! Limits nobody can lift: only owners and admins set a key's rate limits, never above the
//! installation's ceilings; a member holds a bounded number of keys; an address over its
//! limit for failed authentications is refused before any authentication work; unknown JWKS
//! key ids cannot make the gateway hammer the issuer.

use crate::helpers::{Options, TestApp};
use crm_gateway::{auth::jwt::ExternalIssuer, ratelimit::policy::RateLimitConfig};
use serde_json::{Value, json};
use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};
use svc_auth::domain::{key_policy::KeyLimits, role::Role};

async fn create_key(app: &TestApp, token: &str, extra: Value) -> (u16, Value) {
    let mut body = json!({"name": "k", "scopes": ["contacts:read"]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    app.send(app.post_as(token, "/api/api-keys").json(&body))
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn only_owners_and_admins_set_a_keys_limits() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let manager = app.member(&owner, Role::Manager).await;
    let agent = app.member(&owner, Role::Agent).await;
    let admin = app.member(&owner, Role::Admin).await;

    for (token, who) in [(&manager, "manager"), (&agent, "agent")] {
        for (field, value) in [
            ("rate_limit_override", json!(1000)),
            ("rate_limit", json!(5000)),
            ("rate_limit_tier", json!("enterprise")),
        ] {
            let (s, b) = create_key(&app, token, json!({ field: value })).await;
            assert_eq!(s, 403, "{who} {field}: {b}");
            assert_eq!(b["code"], "ROLE_NOT_ALLOWED", "{b}");
            let message = b["error"].as_str().unwrap();
            assert!(message.contains(field), "{message}");
            assert!(message.contains("owners and admins"), "{message}");
        }
    }
    // Without limits a manager's key is fine; raising its limit afterwards is not.
    let (s, b) = create_key(&app, &manager, json!({})).await;
    assert_eq!(s, 201, "{b}");
    let id = b["data"]["id"].as_str().unwrap().to_owned();
    let (s, b) = app
        .send(
            app.put_as(&manager, &format!("/api/api-keys/{id}"))
                .json(&json!({"rate_limit_override": 10_000})),
        )
        .await;
    assert_eq!(s, 403, "{b}");
    assert!(b["error"].as_str().unwrap().contains("rate_limit_override"));
    // An admin may, on the manager's key too.
    let (s, b) = app
        .send(
            app.put_as(&admin, &format!("/api/api-keys/{id}"))
                .json(&json!({"rate_limit_override": 200})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["rate_limit_override"], 200);
    let (s, b) = create_key(
        &app,
        &owner.token,
        json!({"rate_limit_override": 100, "rate_limit_tier": "premium"}),
    )
    .await;
    assert_eq!(s, 201, "{b}");
}

#[tokio::test(flavor = "multi_thread")]
async fn limits_stay_below_the_configured_ceilings() {
    let app = TestApp::spawn_with(Options {
        key_limits: Some(KeyLimits {
            max_per_minute: 500,
            max_per_hour: 20_000,
            ..KeyLimits::default()
        }),
        ..Options::default()
    })
    .await;
    let owner = app.owner("Acme").await;
    for (field, value) in [("rate_limit_override", 501), ("rate_limit", 20_001)] {
        let (s, b) = create_key(&app, &owner.token, json!({ field: value })).await;
        assert_eq!(s, 400, "{b}");
        assert_eq!(b["details"]["field"], field, "{b}");
        assert!(b["error"].as_str().unwrap().contains("ceiling"), "{b}");
    }
    let (s, b) = create_key(
        &app,
        &owner.token,
        json!({"rate_limit_override": 500, "rate_limit": 20_000}),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let id = b["data"]["id"].as_str().unwrap();
    let (s, b) = app
        .send(
            app.put_as(&owner.token, &format!("/api/api-keys/{id}"))
                .json(&json!({"rate_limit_override": 501})),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["details"]["field"], "rate_limit_override");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_holds_a_bounded_number_of_keys() {
    let app = TestApp::spawn_with(Options {
        key_limits: Some(KeyLimits {
            max_keys_per_user: 3,
            ..KeyLimits::default()
        }),
        ..Options::default()
    })
    .await;
    let owner = app.owner("Acme").await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (s, b) = create_key(&app, &owner.token, json!({})).await;
        assert_eq!(s, 201, "{b}");
        ids.push(b["data"]["id"].as_str().unwrap().to_owned());
    }
    let (s, b) = create_key(&app, &owner.token, json!({})).await;
    assert_eq!(s, 409, "{b}");
    assert_eq!(b["code"], "API_KEY_LIMIT_REACHED");
    assert_eq!(b["max_keys_per_user"], 3);
    assert!(
        b["error"].as_str().unwrap().contains("revoke or delete"),
        "{b}"
    );
    // Another member has keys of their own to make.
    let manager = app.member(&owner, Role::Manager).await;
    assert_eq!(create_key(&app, &manager, json!({})).await.0, 201);
    // A revoked key frees its place.
    let (s, b) = app
        .send(
            app.post_as(&owner.token, &format!("/api/api-keys/{}/revoke", ids[0]))
                .json(&json!({})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(create_key(&app, &owner.token, json!({})).await.0, 201);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_address_over_its_limit_is_refused_before_authentication() {
    let app = TestApp::spawn_with(Options {
        rate_limits: Some(RateLimitConfig {
            anonymous_per_minute: 3,
            ..RateLimitConfig::default()
        }),
        ..Options::default()
    })
    .await;
    let bogus = || crm_platform::api_key::mint(crm_platform::api_key::LIVE_PREFIX).full;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(app.get_with_key("/api/auth/me", &bogus()).await.0);
    }
    assert_eq!(statuses[..3], [401, 401, 401], "{statuses:?}");
    assert_eq!(statuses[3..], [429, 429], "{statuses:?}");

    // From here, unknown keys cost no key lookup: not even a Redis round trip.
    let before = app.metrics(&app.base).await;
    let mut refused = 0;
    for _ in 0..20 {
        let (s, b) = app.get_with_key("/api/auth/me", &bogus()).await;
        if s == 429 {
            refused += 1;
            assert_eq!(b["code"], "RATE_LIMIT_EXCEEDED", "{b}");
            assert!(b["details"]["retry_after_seconds"].as_u64().unwrap() >= 1);
        }
    }
    // One cell comes back every 20 s; at most one call got through meanwhile.
    assert!(refused >= 19, "{refused}");
    let after = app.metrics(&app.base).await;
    let round_trips = |m: &str| {
        m.lines()
            .find_map(|l| l.strip_prefix("crm_gateway_redis_round_trips_total "))
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    if crate::helpers::real_redis().is_some() {
        assert!(
            round_trips(&after) - round_trips(&before) <= 4,
            "refused calls went to Redis: {before} -> {after}"
        );
    }
}

/// A JWKS endpoint that counts its fetches.
async fn counting_jwks() -> (String, Arc<AtomicUsize>) {
    let fetches = Arc::new(AtomicUsize::new(0));
    let counter = fetches.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                // Slow enough that concurrent refreshes overlap.
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                axum::Json(json!({"keys": []}))
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/jwks.json"), fetches)
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_key_ids_share_one_jwks_fetch_and_wait_out_the_cooldown() {
    let (jwks_url, fetches) = counting_jwks().await;
    let app = TestApp::spawn_with(Options {
        external_jwt: Some(ExternalIssuer {
            jwks_url,
            issuer: "https://issuer.test".into(),
            audience: "authenticated".into(),
            ..Default::default()
        }),
        ..Options::default()
    })
    .await;
    let token = |i: usize| {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some(format!("made-up-{i}"));
        jsonwebtoken::encode(
            &header,
            &json!({"sub": "x", "iss": "https://issuer.test", "aud": "authenticated", "exp": 4_000_000_000u64}),
            &jsonwebtoken::EncodingKey::from_secret(b"anything"),
        )
        .unwrap()
    };
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..20 {
        let request = app.get_as(&token(i), "/api/auth/me");
        calls.spawn(async move { request.send().await.unwrap().status().as_u16() });
    }
    let statuses = calls.join_all().await;
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    for i in 20..30 {
        assert_eq!(app.send(app.get_as(&token(i), "/api/auth/me")).await.0, 401);
    }
    // The start-up fetch, and at most one more for the thirty unknown key ids.
    let n = fetches.load(Ordering::SeqCst);
    assert!((1..=2).contains(&n), "{n} fetches");
}
