//! Usage from the rollup equals a plain computation over the same requests: many random
//! batches (seeded, so a failure repeats), many random questions.

use crate::{TestApp, UsageAsk, new_id, request, spawn_app};
use chrono::{DateTime, Duration, DurationRound, Utc};
use crm_proto::metrics as pb;
use rand::{Rng, SeedableRng, rngs::StdRng, seq::IndexedRandom};
use std::collections::BTreeMap;

struct Sent {
    workspace: String,
    key: String,
    client: String,
    endpoint: String,
    status: u32,
    ms: u32,
    at: DateTime<Utc>,
}

fn minute(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(Duration::minutes(1)).unwrap()
}

fn mean(sum: u64, n: u64) -> u64 {
    if n == 0 {
        0
    } else {
        ((sum as f64) / (n as f64)).round() as u64
    }
}

/// Seed 003's usage over the requests `counted` picks, the plain way.
fn naive(sent: &[Sent], counted: impl Fn(&Sent) -> bool, by_hour: bool) -> pb::UsageStats {
    let picked: Vec<&Sent> = sent.iter().filter(|s| counted(s)).collect();
    let total = picked.len() as u64;
    let successful = picked.iter().filter(|s| s.status < 400).count() as u64;
    let ms: u64 = picked.iter().map(|s| u64::from(s.ms)).sum();
    let mut endpoints: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let mut times: BTreeMap<String, u64> = BTreeMap::new();
    let mut errors: BTreeMap<u32, u64> = BTreeMap::new();
    for s in &picked {
        let e = endpoints.entry(&s.endpoint).or_default();
        e.0 += 1;
        e.1 += u64::from(s.ms);
        let format = if by_hour {
            "%Y-%m-%dT%H:00:00Z"
        } else {
            "%Y-%m-%d"
        };
        *times.entry(s.at.format(format).to_string()).or_default() += 1;
        if s.status >= 400 {
            *errors.entry(s.status).or_default() += 1;
        }
    }
    let mut by_endpoint: Vec<pb::EndpointUsage> = endpoints
        .into_iter()
        .map(|(endpoint, (n, ms))| pb::EndpointUsage {
            endpoint: endpoint.to_owned(),
            count: n,
            avg_response_time: mean(ms, n),
        })
        .collect();
    by_endpoint.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.endpoint.cmp(&b.endpoint))
    });
    let mut top: Vec<pb::ErrorCodeCount> = errors
        .into_iter()
        .map(|(status_code, count)| pb::ErrorCodeCount { status_code, count })
        .collect();
    top.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.status_code.cmp(&b.status_code))
    });
    top.truncate(5);
    pb::UsageStats {
        total_requests: total,
        successful_requests: successful,
        failed_requests: total - successful,
        average_response_time: mean(ms, total),
        requests_by_endpoint: by_endpoint,
        requests_by_time: times
            .into_iter()
            .map(|(time, count)| pb::TimeUsage { time, count })
            .collect(),
        top_error_codes: top,
    }
}

async fn send_random_batches(app: &TestApp, rng: &mut StdRng) -> (Vec<String>, Vec<Sent>) {
    let workspaces = [new_id(), new_id()];
    let clients = [new_id(), new_id(), String::new()];
    // Each key belongs to one workspace and one client (or none).
    let keys: Vec<(String, String, String)> = (0..6)
        .map(|i| (workspaces[i % 2].clone(), new_id(), clients[i % 3].clone()))
        .collect();
    let endpoints = [
        "/api/v1/contacts",
        "/api/v1/agents",
        "/api/v1/deals/{id}",
        "/x",
    ];
    let statuses = [
        200, 200, 200, 201, 204, 301, 400, 401, 404, 404, 429, 500, 503,
    ];
    let now = Utc::now();
    let mut sent = Vec::new();
    for _ in 0..40 {
        let n = rng.random_range(1..=120);
        let mut batch = Vec::with_capacity(n);
        for _ in 0..n {
            let (workspace, key, client) = keys.choose(rng).unwrap().clone();
            let at = now - Duration::milliseconds(rng.random_range(0..3 * 86_400_000));
            let endpoint = (*endpoints.choose(rng).unwrap()).to_owned();
            let status = *statuses.choose(rng).unwrap();
            let ms = if rng.random_bool(0.05) {
                rng.random_range(5_000..20_000)
            } else {
                rng.random_range(0..800)
            };
            let mut r = request(&workspace, &key, &endpoint, status, ms, at);
            r.api_client_id = client.clone();
            batch.push(r);
            sent.push(Sent {
                workspace,
                key,
                client,
                endpoint,
                status,
                ms,
                // Stored in whole milliseconds.
                at: DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap(),
            });
        }
        assert_eq!(app.record(batch).await as usize, n);
    }
    let ws = workspaces.to_vec();
    (
        ws.into_iter()
            .chain(keys.into_iter().map(|k| k.1))
            .collect(),
        sent,
    )
}

#[tokio::test]
async fn usage_from_the_rollup_equals_a_plain_count() {
    let app = spawn_app().await;
    let seed = 0x5eed_u64;
    let mut rng = StdRng::seed_from_u64(seed);
    let (ids, sent) = send_random_batches(&app, &mut rng).await;
    let (workspaces, keys) = ids.split_at(2);
    let clients: Vec<String> = {
        let mut c: Vec<String> = sent
            .iter()
            .map(|s| s.client.clone())
            .filter(|c| !c.is_empty())
            .collect();
        c.sort();
        c.dedup();
        c
    };
    let now = Utc::now();
    for round in 0..60 {
        let workspace = workspaces.choose(&mut rng).unwrap().clone();
        let by_hour = rng.random_bool(0.5);
        let from = rng
            .random_bool(0.7)
            .then(|| now - Duration::milliseconds(rng.random_range(0..4 * 86_400_000)));
        let to = rng.random_bool(0.5).then(|| {
            from.unwrap_or(now - Duration::days(4))
                + Duration::milliseconds(rng.random_range(1..2 * 86_400_000))
        });
        let in_range = |s: &Sent| {
            from.is_none_or(|f| minute(s.at) >= minute(f)) && to.is_none_or(|t| minute(s.at) < t)
        };
        let by_client = rng.random_bool(0.3);
        let (got, expected) = if by_client {
            let client = clients.choose(&mut rng).unwrap().clone();
            let got = app
                .usage(UsageAsk {
                    workspace_id: &workspace,
                    api_client_id: &client,
                    from,
                    to,
                    group_by: if by_hour { "hour" } else { "day" },
                    ..Default::default()
                })
                .await;
            let expected = naive(
                &sent,
                |s| s.workspace == workspace && s.client == client && in_range(s),
                by_hour,
            );
            (got, expected)
        } else {
            let n = rng.random_range(1..=keys.len());
            let chosen: Vec<String> = keys.choose_multiple(&mut rng, n).cloned().collect();
            let got = app
                .usage(UsageAsk {
                    workspace_id: &workspace,
                    api_key_ids: &chosen,
                    from,
                    to,
                    group_by: if by_hour { "hour" } else { "" },
                    ..Default::default()
                })
                .await;
            let expected = naive(
                &sent,
                |s| s.workspace == workspace && chosen.contains(&s.key) && in_range(s),
                by_hour,
            );
            (got, expected)
        };
        assert_eq!(got, expected, "seed {seed:#x}, round {round}");
    }

    // Accepted counts per window start, by key and by client.
    for workspace in workspaces {
        let since: Vec<DateTime<Utc>> = [1, 60, 1440, 2000]
            .iter()
            .map(|m| minute(now - Duration::minutes(*m)))
            .collect();
        let accepted = |s: &Sent, start: DateTime<Utc>| {
            &s.workspace == workspace && s.status != 429 && minute(s.at) >= start
        };
        let got = app.accepted(workspace, keys, "", &since).await;
        let expected: Vec<u64> = since
            .iter()
            .map(|start| sent.iter().filter(|s| accepted(s, *start)).count() as u64)
            .collect();
        assert_eq!(got, expected);
        for client in &clients {
            let got = app.accepted(workspace, &[], client, &since).await;
            let expected: Vec<u64> = since
                .iter()
                .map(|start| {
                    sent.iter()
                        .filter(|s| &s.client == client && accepted(s, *start))
                        .count() as u64
                })
                .collect();
            assert_eq!(got, expected);
        }
    }
}
