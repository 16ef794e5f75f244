//! A client's dashboard shows the gateways' own buckets for it (`rateLimitState`): what they
//! would admit right now, read from Redis when the gateways share it, else from the gateway's
//! in-process limiter, which is where it admits calls while Redis is away.

use crate::{
    client_limits::{basic_client, client_key},
    helpers::{TestApp, real_redis},
    rate_limits::call,
};
use serde_json::{Value, json};
use std::time::Instant;

/// `rateLimitStateSource` and the buckets of client `cid`'s dashboard.
pub(crate) async fn admission(app: &TestApp, token: &str, cid: &str) -> (String, Vec<Value>) {
    let path = format!("/api/v1/api-clients/{cid}/dashboard");
    let (s, d) = app.send(app.get_as(token, &path)).await;
    assert_eq!(s, 200, "{d}");
    (
        d["rateLimitStateSource"].as_str().unwrap().to_owned(),
        d["rateLimitState"].as_array().unwrap().clone(),
    )
}

/// The source a dashboard reports when Redis is up: shared if the suite runs on Redis.
pub(crate) fn expected_source() -> &'static str {
    if real_redis().is_some() {
        "shared"
    } else {
        "local"
    }
}

/// Checks bucket `b`: its window and limits, and `used` cells taken `elapsed` ago at most
/// (each refills after `period / limit`).
pub(crate) fn assert_bucket(b: &Value, window: (&str, u64, u64, u64), used: u64, elapsed: f64) {
    let (name, limit, period, burst) = window;
    assert_eq!(
        (
            b["window"].as_str(),
            b["requestLimit"].as_u64(),
            b["periodSeconds"].as_u64(),
            b["burst"].as_u64()
        ),
        (Some(name), Some(limit), Some(period), Some(burst)),
        "{b}"
    );
    let interval = period as f64 / limit as f64;
    let refilled = (elapsed / interval).ceil() as u64;
    let remaining = b["remaining"].as_u64().unwrap();
    let least = burst - used;
    assert!(
        (least..=(least + refilled).min(burst)).contains(&remaining),
        "{name}: {remaining} left of {burst} after {used} calls within {elapsed:.1} s: {b}"
    );
    let full_at = b["fullAt"].as_str().unwrap();
    // Protobuf JSON writes 0, 3, 6 or 9 digits of fraction, as the value needs.
    let digits = full_at.split_once('.').map_or(0, |(_, f)| f.len() - 1);
    assert!(
        digits == 0 || digits == 3,
        "milliseconds, as every time: {b}"
    );
    let full_at = chrono::DateTime::parse_from_rfc3339(full_at).unwrap();
    let full_in = (full_at.timestamp_millis() - chrono::Utc::now().timestamp_millis()) as f64;
    assert!(
        full_in <= used as f64 * interval * 1000.0 + 1000.0,
        "{name} full in {full_in} ms after {used} calls: {b}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_reads_the_buckets_the_gateway_admits_from() {
    let app = TestApp::spawn().await;
    check_admission_view(&app, expected_source()).await;
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_redis_away_the_dashboard_reads_the_gateways_own_buckets() {
    // The gateway limits in-process.
    let app = TestApp::spawn_with_redis_unreachable().await;
    check_admission_view(&app, "local").await;
    app.stack.stop().await;
}

/// A basic client: full buckets before any call, a cell fewer for each call after.
async fn check_admission_view(app: &TestApp, source: &str) {
    let owner = app.owner("Acme").await;
    let cid = basic_client(app, &owner.token).await;
    let basic = [
        ("minute", 60, 60, 10),
        ("hour", 1000, 3600, 1000),
        ("day", 10_000, 86_400, 10_000),
    ];
    let (src, buckets) = admission(app, &owner.token, &cid).await;
    assert_eq!(src, source);
    assert_eq!(buckets.len(), 3, "{buckets:?}");
    for (b, w) in buckets.iter().zip(basic) {
        assert_bucket(b, w, 0, 0.0);
    }

    let key = client_key(app, &owner.token, &cid, json!({})).await;
    let first = Instant::now();
    for _ in 0..3 {
        assert_eq!(call(app, &app.base, "/api/auth/me", &key).await.0, 200);
    }
    // Limits come before scopes (a key cannot probe without limit), so a call refused for
    // its scope takes a cell too.
    assert_eq!(
        call(app, &app.base, "/api/pipeline/pipelines", &key)
            .await
            .0,
        403
    );
    let (src, buckets) = admission(app, &owner.token, &cid).await;
    let elapsed = first.elapsed().as_secs_f64();
    assert_eq!(src, source);
    for (b, w) in buckets.iter().zip(basic) {
        assert_bucket(b, w, 4, elapsed);
    }
}
