//! The plan for each kind of caller: precedence of override, tier and defaults; a client's
//! shared buckets; GCRA intervals; route limits shared as their scope says.

use super::*;
use crate::transcode::table::RouteTable;

fn key(per_minute: Option<u32>, per_hour: Option<u32>, tier: Option<&str>) -> KeyEntry {
    KeyEntry {
        status: "active".into(),
        api_key_id: "k1".into(),
        rate_limit_per_minute: per_minute,
        rate_limit_per_hour: per_hour,
        rate_limit_tier: tier.map(str::to_owned),
        ..KeyEntry::default()
    }
}

fn route(path: &str) -> std::sync::Arc<MethodInfo> {
    let (table, _) = RouteTable::from_descriptor_set(crm_proto::FILE_DESCRIPTOR_SET).unwrap();
    table.methods.get(path).unwrap().clone()
}

fn summary(plan: &Plan) -> Vec<(&str, u32, u32, u32)> {
    plan.windows
        .iter()
        .map(|w| (w.name, w.limit, w.period_secs, w.capacity))
        .collect()
}

#[test]
fn override_beats_tier_beats_defaults_and_routes_add_their_own() {
    let config = RateLimitConfig::default();
    let me = route("/crm.auth.v1.AuthService/GetMe");
    let agents = route("/crm.auth.v1.AuthService/ListAgents");
    let p = Principal::new(PrincipalKind::ApiKey, "w", "u");
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let plain = plan(&config, &p, Some(&key(None, None, None)), &me, ip);
    assert_eq!(plain.windows[0].bucket, "key:k1:minute");
    assert_eq!(summary(&plain), vec![("minute", 50, 60, 50)]);
    let basic = plan(&config, &p, Some(&key(None, None, Some("basic"))), &me, ip);
    assert_eq!(
        summary(&basic),
        vec![
            ("minute", 60, 60, 10),
            ("hour", 1000, 3600, 1000),
            ("day", 10_000, 86_400, 10_000)
        ]
    );
    let overridden = plan(
        &config,
        &p,
        Some(&key(Some(3), Some(500), Some("enterprise"))),
        &agents,
        ip,
    );
    assert_eq!(
        summary(&overridden),
        vec![
            ("minute", 3, 60, 3),
            ("hour", 500, 3600, 500),
            ("day", 500_000, 86_400, 500_000),
            ("route", 100, 60, 100)
        ]
    );
    assert_eq!(
        overridden.windows[3].bucket,
        "ip:127.0.0.1:route:AuthService.ListAgents"
    );
    let user = plan(
        &config,
        &Principal::new(PrincipalKind::User, "w", "u"),
        None,
        &me,
        ip,
    );
    assert_eq!(
        (user.windows[0].bucket.as_str(), summary(&user)),
        ("user:w:u:minute", vec![("minute", 100, 60, 100)])
    );
    let anon = plan(&config, &Principal::anonymous(), None, &me, ip);
    assert_eq!(anon.windows[0].bucket, "ip:127.0.0.1:minute");
}

fn buckets(plan: &Plan) -> Vec<(&str, &str)> {
    plan.windows
        .iter()
        .map(|w| (w.bucket.as_str(), w.holder))
        .collect()
}

#[test]
fn a_clients_keys_share_its_tier_and_keep_their_own_overrides() {
    let config = RateLimitConfig::default();
    let agents = route("/crm.auth.v1.AuthService/ListAgents");
    let p = Principal::new(PrincipalKind::ApiKey, "w", "u");
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let client_key = |per_minute, per_hour, client_tier| KeyEntry {
        api_client_id: Some("c1".into()),
        client_tier,
        ..key(per_minute, per_hour, Some("basic"))
    };
    let shared = plan(
        &config,
        &p,
        Some(&client_key(None, None, true)),
        &agents,
        ip,
    );
    assert_eq!(
        buckets(&shared),
        vec![
            ("client:c1:minute", "API client"),
            ("client:c1:hour", "API client"),
            ("client:c1:day", "API client"),
            (
                "ip:127.0.0.1:route:AuthService.ListAgents",
                "client address"
            ),
        ]
    );
    assert_eq!(shared.windows[0].capacity, 10, "the tier's burst");
    let overridden = plan(
        &config,
        &p,
        Some(&client_key(Some(200), None, true)),
        &agents,
        ip,
    );
    assert_eq!(
        summary(&overridden)[0],
        ("minute", 200, 60, 10),
        "an override may exceed the tier"
    );
    assert_eq!(
        buckets(&overridden)[..3],
        [
            ("key:k1:minute", "API key"),
            ("client:c1:hour", "API client"),
            ("client:c1:day", "API client"),
        ]
    );
    let hourly = plan(
        &config,
        &p,
        Some(&client_key(None, Some(5), true)),
        &agents,
        ip,
    );
    assert_eq!(hourly.windows[1].bucket, "key:k1:hour");
    assert_eq!(hourly.windows[0].bucket, "client:c1:minute");
    let own_tier = plan(
        &config,
        &p,
        Some(&client_key(None, None, false)),
        &agents,
        ip,
    );
    assert!(
        own_tier
            .windows
            .iter()
            .filter(|w| w.name != "route")
            .all(|w| w.bucket.starts_with("key:k1:")),
        "a tier set on the key itself is the key's alone"
    );
}

#[test]
fn a_clients_buckets_are_the_tier_windows_views_read() {
    let agents = route("/crm.auth.v1.AuthService/GetMe");
    let p = Principal::new(PrincipalKind::ApiKey, "w", "u");
    for tier in rate_tiers::TIERS {
        let key = KeyEntry {
            api_client_id: Some("c1".into()),
            client_tier: true,
            ..key(None, None, Some(tier.name))
        };
        let plan = plan(
            &RateLimitConfig::default(),
            &p,
            Some(&key),
            &agents,
            "127.0.0.1".parse().unwrap(),
        );
        let ours: Vec<_> = plan
            .windows
            .iter()
            .map(|w| (w.bucket.clone(), w.interval_us(), w.capacity))
            .collect();
        let views: Vec<_> = tier
            .windows()
            .iter()
            .map(|w| {
                (
                    rate_tiers::bucket_name(&rate_tiers::client_owner("c1"), w.name),
                    w.interval_us(),
                    w.capacity,
                )
            })
            .collect();
        assert_eq!(ours, views, "{}", tier.name);
    }
}

#[test]
fn intervals_are_period_over_limit() {
    let o = Owner {
        prefix: "key:k",
        holder: "API key",
    };
    assert_eq!(Window::new(o, "minute", 3, 60, 3).interval_us(), 20_000_000);
    assert_eq!(
        Window::new(o, "day", 10_000, 86_400, 10_000).interval_us(),
        8_640_000
    );
}

/// Seed 004: actions 50 a minute per workspace, agents 100 a minute per address.
#[test]
fn route_limits_are_shared_as_their_scope_says() {
    let config = RateLimitConfig::default();
    let ip: IpAddr = "192.0.2.7".parse().unwrap();
    let execute = route("/crm.pipeline.v1.ActionService/ExecuteAction");
    let agents = route("/crm.auth.v1.AuthService/ListAgents");
    let route_bucket = |plan: &Plan| {
        let w = plan.windows.iter().find(|w| w.name == "route").unwrap();
        (w.bucket.clone(), w.holder, w.limit)
    };
    let key = |id: &str| KeyEntry {
        api_key_id: id.into(),
        ..key(None, None, None)
    };
    let by_key = Principal::new(PrincipalKind::ApiKey, "w1", "u1");
    let by_user = Principal::new(PrincipalKind::User, "w1", "u2");
    let elsewhere = Principal::new(PrincipalKind::ApiKey, "w2", "u3");
    let shared = (
        "workspace:w1:route:ActionService.ExecuteAction".to_owned(),
        "workspace",
        50,
    );
    assert_eq!(
        route_bucket(&plan(&config, &by_key, Some(&key("k1")), &execute, ip)),
        shared
    );
    assert_eq!(
        route_bucket(&plan(&config, &by_user, None, &execute, ip)),
        shared,
        "a user token of the workspace counts against the same bucket"
    );
    assert_eq!(
        route_bucket(&plan(&config, &elsewhere, Some(&key("k3")), &execute, ip)).0,
        "workspace:w2:route:ActionService.ExecuteAction"
    );
    assert_eq!(
        route_bucket(&plan(&config, &by_key, Some(&key("k1")), &agents, ip)),
        (
            "ip:192.0.2.7:route:AuthService.ListAgents".to_owned(),
            "client address",
            100
        )
    );
}
