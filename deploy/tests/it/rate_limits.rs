//! Rate limits as a partner sees them: the numbers of each tier, per-key overrides, the
//! seed-004 defaults, per-route limits, exact headers on every answer, 429s that say which
//! window was hit and when to retry, limits shared by gateways on one Redis, and local limits
//! when Redis goes away.

use crate::helpers::{Options, RedisRelay, TestApp, real_redis, within};
use crm_gateway::ratelimit::policy::RateLimitConfig;
use serde_json::{Value, json};
use std::time::Duration;

/// GET with a key; returns status, the rate-limit headers and the body.
pub(crate) async fn call(
    app: &TestApp,
    base: &str,
    path: &str,
    key: &str,
) -> (u16, Headers, Value) {
    let r = app
        .http
        .get(format!("{base}{path}"))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap();
    answer(r).await
}

async fn answer(r: reqwest::Response) -> (u16, Headers, Value) {
    let status = r.status().as_u16();
    let h = Headers::of(r.headers());
    (status, h, r.json().await.unwrap_or(Value::Null))
}

#[derive(Debug, Default)]
pub(crate) struct Headers {
    pub(crate) limit: Option<String>,
    pub(crate) remaining: Option<String>,
    reset: Option<String>,
    ietf: Option<String>,
    policy: Option<String>,
    retry_after: Option<String>,
}

impl Headers {
    fn of(h: &reqwest::header::HeaderMap) -> Self {
        let get = |n: &str| h.get(n).map(|v| v.to_str().unwrap().to_owned());
        Self {
            limit: get("x-ratelimit-limit"),
            remaining: get("x-ratelimit-remaining"),
            reset: get("x-ratelimit-reset"),
            ietf: get("ratelimit"),
            policy: get("ratelimit-policy"),
            retry_after: get("retry-after"),
        }
    }

    fn seconds_to_reset(&self) -> i64 {
        let reset = chrono::DateTime::parse_from_rfc3339(self.reset.as_deref().unwrap()).unwrap();
        reset.timestamp() - chrono::Utc::now().timestamp()
    }
}

// Sends until refused; the bucket refills one request every period/limit meanwhile, so
// the count accepted is the limit plus what refilled while the loop ran. Returns that count,
// the refill bound and the refusal's body.
async fn accepted_until_429<F, Fut>(limit: u32, mut send: F) -> (u32, u32, Value)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = (u16, Headers, Value)>,
{
    let start = std::time::Instant::now();
    let mut accepted = 0;
    loop {
        let (s, h, body) = send().await;
        assert_eq!(h.limit, Some(limit.to_string()));
        if s == 429 {
            let refilled = (start.elapsed().as_millis() as u32) / (60_000 / limit) + 1;
            return (accepted, refilled, body);
        }
        assert_eq!(s, 200);
        accepted += 1;
        assert!(accepted <= 2 * limit, "never refused");
    }
}

/// Mints a key with the given rate-limit settings; returns (id, key).
pub(crate) async fn key_with(app: &TestApp, token: &str, extra: Value) -> (String, String) {
    let mut body =
        json!({"name": "limited", "scopes": ["contacts:read", "workspace_members:read"]});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let (id, key, _) = app.create_key(token, body).await;
    (id, key)
}

/// Statuses of `n` calls made with `key` all at once, alternately on the first gateway and
/// on `second`.
pub(crate) async fn together_on_both(app: &TestApp, second: &str, key: &str, n: usize) -> Vec<u16> {
    let calls: Vec<_> = (0..n)
        .map(|i| {
            let base = if i % 2 == 0 {
                app.base.as_str()
            } else {
                second
            };
            let r = app
                .http
                .get(format!("{base}/api/auth/me"))
                .header("x-api-key", key);
            tokio::spawn(async move { r.send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::with_capacity(n);
    for c in calls {
        statuses.push(c.await.unwrap());
    }
    statuses
}

/// A stack with a second gateway (its base URL) and a key made with `extra`.
pub(crate) async fn two_gateways_and_key(extra: Value) -> (TestApp, String, String) {
    let mut app = TestApp::spawn().await;
    let second = format!("http://{}", app.stack.start_extra_gateway().await.unwrap());
    let owner = app.owner("Acme").await;
    let (_, key) = key_with(&app, &owner.token, extra).await;
    (app, second, key)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_per_minute_override_is_enforced_with_exact_headers() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (id, key) = key_with(&app, &owner.token, json!({"rateLimitOverride": 3})).await;
    let (_, shown) = app
        .send(app.get_as(&owner.token, &format!("/api/v1/api-keys/{id}")))
        .await;
    assert_eq!(shown["data"]["rate_limit_override"], 3);
    for (remaining, reset) in [(2, 20), (1, 40), (0, 60)] {
        let (s, h, _) = call(&app, &app.base, "/api/auth/me", &key).await;
        assert_eq!(s, 200);
        assert_eq!(h.limit.as_deref(), Some("3"));
        assert_eq!(h.remaining, Some(remaining.to_string()));
        assert_eq!(h.policy.as_deref(), Some("\"minute\";q=3;w=60"));
        assert_eq!(
            h.ietf,
            Some(format!("\"minute\";r={remaining};t={reset}")),
            "t = seconds until the bucket is full again"
        );
        assert!(
            (reset - 2..=reset + 1).contains(&h.seconds_to_reset()),
            "{h:?}"
        );
        assert_eq!(h.retry_after, None);
    }
    let (s, h, body) = call(&app, &app.base, "/api/auth/me", &key).await;
    assert_eq!(s, 429);
    assert_eq!(body["success"], false);
    assert_eq!(body["code"], "RATE_LIMIT_EXCEEDED");
    assert_eq!(body["details"]["window"], "minute");
    assert_eq!(body["details"]["limit"], 3);
    let retry: u64 = h.retry_after.as_deref().unwrap().parse().unwrap();
    assert!(
        (18..=20).contains(&retry),
        "one request frees up every 20 s: {retry}"
    );
    assert_eq!(body["details"]["retry_after_seconds"], retry);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("3 requests per minute for this API key")
    );
    assert_eq!(h.remaining.as_deref(), Some("0"));
    assert_eq!(h.limit.as_deref(), Some("3"));

    // Other keys and users are not affected.
    let (_, other) = key_with(&app, &owner.token, json!({})).await;
    assert_eq!(call(&app, &app.base, "/api/auth/me", &other).await.0, 200);
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_004_defaults_are_50_per_key_and_100_per_user_token() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (_, key) = key_with(&app, &owner.token, json!({})).await;
    let (accepted, refilled, _) =
        accepted_until_429(50, || call(&app, &app.base, "/api/auth/me", &key)).await;
    assert!((50..=50 + refilled).contains(&accepted), "{accepted}");
    // Creating the key was the user's first request this minute.
    let (accepted, refilled, body) = accepted_until_429(100, || async {
        answer(
            app.get_as(&owner.token, "/api/auth/me")
                .send()
                .await
                .unwrap(),
        )
        .await
    })
    .await;
    assert!((99..=99 + refilled).contains(&accepted), "{accepted}");
    // The refusal itself, not a call after it: a cell may refill in between (one per 0.6 s).
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("for this user token")
    );
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tiers_carry_the_seed_numbers_and_their_burst() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (_, basic) = key_with(&app, &owner.token, json!({"rate_limit_tier": "basic"})).await;
    for i in 0..10 {
        let (s, h, _) = call(&app, &app.base, "/api/auth/me", &basic).await;
        assert_eq!(s, 200, "burst request {i}");
        assert_eq!(
            h.policy.as_deref(),
            Some("\"minute\";q=60;w=60, \"hour\";q=1000;w=3600, \"day\";q=10000;w=86400")
        );
        assert_eq!(h.limit.as_deref(), Some("60"));
        assert_eq!(h.remaining, Some((9 - i).to_string()), "burst of 10");
    }
    let (s, h, body) = call(&app, &app.base, "/api/auth/me", &basic).await;
    assert_eq!(
        s, 429,
        "the 11th request at once exceeds basic's burst of 10"
    );
    assert_eq!(body["details"]["window"], "minute");
    assert_eq!(
        h.retry_after.as_deref(),
        Some("1"),
        "60/min frees one per second"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(call(&app, &app.base, "/api/auth/me", &basic).await.0, 200);

    for (tier, minute, hour, day, burst) in [
        ("standard", 120, 5000, 50000, 20),
        ("premium", 300, 15000, 150000, 50),
        ("enterprise", 600, 50000, 500000, 100),
    ] {
        let (_, k) = key_with(&app, &owner.token, json!({"rate_limit_tier": tier})).await;
        let (s, h, _) = call(&app, &app.base, "/api/auth/me", &k).await;
        assert_eq!(s, 200);
        assert_eq!(
            h.policy,
            Some(format!(
                "\"minute\";q={minute};w=60, \"hour\";q={hour};w=3600, \"day\";q={day};w=86400"
            ))
        );
        assert_eq!(h.remaining, Some((burst - 1).to_string()), "{tier} burst");
    }

    // Seed 002's per-hour limit on a key, on top of the default per-minute one.
    let (_, hourly) = key_with(&app, &owner.token, json!({"rate_limit": 2})).await;
    assert_eq!(call(&app, &app.base, "/api/auth/me", &hourly).await.0, 200);
    let (_, h, _) = call(&app, &app.base, "/api/auth/me", &hourly).await;
    assert_eq!(
        h.limit.as_deref(),
        Some("2"),
        "the hour window is the tighter one"
    );
    let (s, h, body) = call(&app, &app.base, "/api/auth/me", &hourly).await;
    assert_eq!(s, 429);
    assert_eq!(body["details"]["window"], "hour");
    let retry: u64 = h.retry_after.unwrap().parse().unwrap();
    assert!(
        (1790..=1800).contains(&retry),
        "2/hour frees one every 30 min: {retry}"
    );

    let (s, body) = app
        .send(
            app.post_as(&owner.token, "/api/api-keys").json(
                &json!({"name": "x", "scopes": ["contacts:read"], "rate_limit_tier": "gold"}),
            ),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(body["details"]["field"], "rate_limit_tier");
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_route_limit_applies_on_top_of_the_key_limit() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (_, key) = key_with(&app, &owner.token, json!({"rate_limit_override": 1000})).await;
    let (_, h, _) = call(&app, &app.base, "/api/agents", &key).await;
    assert_eq!(
        h.policy.as_deref(),
        Some("\"minute\";q=1000;w=60, \"route\";q=100;w=60")
    );
    assert_eq!(h.limit.as_deref(), Some("100"));
    let (accepted, refilled, refusal) =
        accepted_until_429(100, || call(&app, &app.base, "/api/agents", &key)).await;
    assert!(
        (99..=99 + refilled).contains(&accepted),
        "seed 004: the agents API allows 100 requests per minute ({accepted})"
    );
    assert_eq!(refusal["details"]["window"], "route");
    let (s, h, _) = call(&app, &app.base, "/api/auth/me", &key).await;
    assert_eq!(s, 200, "other endpoints keep the key's own limit");
    assert_eq!(h.limit.as_deref(), Some("1000"));
    let remaining: u32 = h.remaining.unwrap().parse().unwrap();
    assert!(
        (898..1000).contains(&remaining),
        "101 used, some refilled: {remaining}"
    );
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_carry_the_headers_too() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    // Refused before a caller is known: limited per address (100/min).
    let bogus = crm_platform::api_key::mint(crm_platform::api_key::LIVE_PREFIX).full;
    let (s, h, _) = call(&app, &app.base, "/api/auth/me", &bogus).await;
    assert_eq!(s, 401);
    assert_eq!(h.limit.as_deref(), Some("100"));
    // The owner's login was the first; one refills every 600 ms.
    let remaining: u32 = h.remaining.unwrap().parse().unwrap();
    assert!((98..=99).contains(&remaining), "{remaining}");
    // Refused by the backend after admission.
    let r = app
        .get_as(
            &owner.token,
            &format!("/api/api-keys/{}", uuid::Uuid::new_v4()),
        )
        .send()
        .await
        .unwrap();
    let (s, h, _) = answer(r).await;
    assert_eq!(s, 404);
    assert_eq!(h.limit.as_deref(), Some("100"));
    assert_eq!(h.policy.as_deref(), Some("\"minute\";q=100;w=60"));
    // A scope refusal is counted too.
    let (_, narrow) = app.key(&owner.token, &["contacts:read"]).await;
    let (s, h, _) = call(&app, &app.base, "/api/agents", &narrow).await;
    assert_eq!(s, 403);
    assert_eq!(h.remaining.as_deref(), Some("49"));
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn limiting_can_be_switched_off() {
    let app = TestApp::spawn_with(Options {
        rate_limits: Some(RateLimitConfig {
            enabled: false,
            ..RateLimitConfig::default()
        }),
        ..Options::default()
    })
    .await;
    let owner = app.owner("Acme").await;
    let (_, key) = key_with(&app, &owner.token, json!({"rate_limit_override": 1})).await;
    for _ in 0..3 {
        let (s, h, _) = call(&app, &app.base, "/api/auth/me", &key).await;
        assert_eq!(s, 200);
        assert_eq!(h.limit, None);
    }
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_gateways_on_one_redis_share_the_limit() {
    if real_redis().is_none() {
        eprintln!("skipped: needs REDIS_URL");
        return;
    }
    let (app, second, key) = two_gateways_and_key(json!({"rate_limit_override": 3})).await;
    let (_, h, _) = call(&app, &app.base, "/api/auth/me", &key).await;
    assert_eq!(h.remaining.as_deref(), Some("2"));
    let (_, h, _) = call(&app, &second, "/api/auth/me", &key).await;
    assert_eq!(
        h.remaining.as_deref(),
        Some("1"),
        "the second gateway sees the first's use"
    );
    let (_, h, _) = call(&app, &app.base, "/api/auth/me", &key).await;
    assert_eq!(h.remaining.as_deref(), Some("0"));
    assert_eq!(call(&app, &second, "/api/auth/me", &key).await.0, 429);
    assert_eq!(call(&app, &app.base, "/api/auth/me", &key).await.0, 429);
    let metrics = app.metrics(&app.base).await;
    assert!(
        metrics.contains("crm_gateway_rate_limited_total 1"),
        "{metrics}"
    );
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_redis_gone_mid_test_limits_are_kept_locally() {
    let Some(redis) = real_redis() else {
        eprintln!("skipped: needs REDIS_URL");
        return;
    };
    let relay = RedisRelay::to(&redis).await;
    let app = TestApp::spawn_with(Options {
        redis_url: Some(Some(relay.url.clone())),
        ..Options::default()
    })
    .await;
    let owner = app.owner("Acme").await;
    let (_, key) = key_with(&app, &owner.token, json!({"rate_limit_override": 3})).await;
    let (s, h, _) = call(&app, &app.base, "/api/auth/me", &key).await;
    assert_eq!((s, h.remaining.as_deref()), (200, Some("2")));

    relay.cut();
    // The gateway keeps serving: the next requests succeed, counted in-process from a fresh
    // bucket, and the limit still bites.
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let (s, h, _) = call(&app, &app.base, "/api/auth/me", &key).await;
        assert_eq!(h.limit.as_deref(), Some("3"), "headers are still sent");
        statuses.push(s);
    }
    assert_eq!(statuses, vec![200, 200, 200, 429, 429], "{statuses:?}");
    let degraded = within(Duration::from_secs(3), || async {
        let (_, r) = app.send(app.http.get(app.url("/readyz"))).await;
        r["status"] == "degraded"
    })
    .await;
    assert!(degraded.is_some(), "readyz says Redis is down");
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_calls_on_two_gateways_never_exceed_the_limit() {
    // Calls arriving together are checked in one script; they must still count one by one.
    let (app, second, key) = two_gateways_and_key(json!({"rate_limit_override": 5})).await;
    let statuses = together_on_both(&app, &second, &key, 30).await;
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(ok + refused, 30, "{statuses:?}");
    if real_redis().is_some() {
        assert_eq!(
            ok, 5,
            "shared buckets admit exactly the limit: {statuses:?}"
        );
    } else {
        // Without Redis each gateway limits on its own.
        assert_eq!(ok, 10, "{statuses:?}");
    }
    app.stack.stop().await;
}
