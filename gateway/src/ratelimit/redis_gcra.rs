//! Shared limits: GCRA over every window of a call in a Lua script, so a call costs at most
//! one Redis round trip however many windows apply, and all gateways see the same buckets.
//! Calls that arrive while a script is in flight are checked together in the next one, so
//! under load many calls share a round trip (the script evaluates them in arrival order, as
//! if one by one). Redis' own clock is used, so gateways with skewed clocks agree. A refused
//! call consumes nothing. All keys of a script must live on one node (no Redis Cluster).

use super::{
    decision::Decision,
    policy::{BucketWindow, Plan},
};
use crate::redis_link::RedisLink;
use crm_platform::quota_view::REDIS_NAMESPACE;
use std::{collections::HashMap, sync::LazyLock};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// KEYS: every distinct bucket of the batch (theoretical arrival time, µs), once each.
/// ARGV: the number S of distinct window shapes, then per shape its bucket (index into KEYS),
/// emission interval (µs) and capacity; then per call the number of windows n and the n
/// shapes it checks. Returns, per call: allowed (1 or 0), then per window how far its
/// theoretical arrival time lies ahead of now (µs, after this call); the gateway derives
/// remaining, reset and retry-after from that (`window_state`).
///
/// Redis' cost is per command, per argument and per reply element far more than per Lua
/// step: a busy key is exactly the one that appears many times in a batch, so its name and
/// its window's numbers are sent, parsed, read (one MGET) and written once, each call names
/// its windows by a small index, and the reply carries one number per window.
const GCRA: &str = r"
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local stored = redis.call('MGET', unpack(KEYS))
local tat = {}
for i = 1, #KEYS do tat[i] = tonumber(stored[i]) or 0 end
local shapes = tonumber(ARGV[1])
local bucket, interval, capacity = {}, {}, {}
for s = 1, shapes do
  local b = 3 * s - 1
  bucket[s] = tonumber(ARGV[b])
  interval[s] = tonumber(ARGV[b + 1])
  capacity[s] = tonumber(ARGV[b + 2])
end
local dirty = {}
local out = {}
local o = 0
local a = 2 + 3 * shapes
while a <= #ARGV do
  local n = tonumber(ARGV[a])
  local allowed = 1
  for i = 1, n do
    local s = tonumber(ARGV[a + i])
    local t = interval[s]
    if math.max(tat[bucket[s]], now) + t - now > capacity[s] * t then allowed = 0 end
  end
  o = o + 1
  out[o] = allowed
  for i = 1, n do
    local s = tonumber(ARGV[a + i])
    local k = bucket[s]
    local v = math.max(tat[k], now)
    if allowed == 1 then
      v = v + interval[s]
      tat[k] = v
      dirty[k] = true
    end
    o = o + 1
    out[o] = v - now
  end
  a = a + 1 + n
end
for k in pairs(dirty) do
  redis.call('SET', KEYS[k], string.format('%d', tat[k]), 'PX', math.ceil((tat[k] - now) / 1000) + 1000)
end
return out
";

/// A window's (remaining, reset ms, retry ms) from how far its theoretical arrival time lies
/// ahead of now (`ahead_us`), its emission interval and capacity, as GCRA defines them.
fn window_state(ahead_us: i64, interval_us: u64, capacity: u32, allowed: bool) -> (u32, u64, u64) {
    let ahead = ahead_us.max(0) as u64;
    let retry_us = if allowed {
        0
    } else {
        (ahead + interval_us).saturating_sub(u64::from(capacity) * interval_us)
    };
    (
        crm_platform::rate_tiers::remaining(ahead, interval_us, capacity),
        ahead.div_ceil(1000),
        retry_us.div_ceil(1000),
    )
}

static SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(GCRA));

/// Most calls checked in one script.
const MAX_BATCH: usize = 128;
/// Most times the sender yields to let more calls join a script.
const MAX_YIELDS: usize = 4;
/// Calls waiting for a script; beyond it a call is limited locally instead of waiting.
const QUEUE: usize = 4096;

struct Job {
    /// Per window: bucket key, emission interval (µs), capacity.
    windows: Vec<BucketWindow>,
    reply: oneshot::Sender<Option<Vec<i64>>>,
}

/// The script's KEYS and ARGV for `jobs`: each distinct bucket and window shape once.
fn script_input(jobs: &[Job]) -> (Vec<String>, Vec<u64>) {
    let mut keys: Vec<String> = Vec::new();
    let mut key_index: HashMap<&str, u64> = HashMap::new();
    let mut shapes: Vec<u64> = Vec::new();
    let mut shape_index: HashMap<(u64, u64, u64), u64> = HashMap::new();
    let mut calls: Vec<u64> = Vec::new();
    for job in jobs {
        calls.push(job.windows.len() as u64);
        for (key, interval, capacity) in &job.windows {
            let k = *key_index.entry(key.as_str()).or_insert_with(|| {
                keys.push(key.clone());
                keys.len() as u64
            });
            let shape = *shape_index
                .entry((k, *interval, *capacity))
                .or_insert_with(|| {
                    shapes.extend([k, *interval, *capacity]);
                    (shapes.len() / 3) as u64
                });
            calls.push(shape);
        }
    }
    let mut args = Vec::with_capacity(1 + shapes.len() + calls.len());
    args.push((shapes.len() / 3) as u64);
    args.extend(shapes);
    args.extend(calls);
    (keys, args)
}

/// Sends calls' checks to Redis, batching those that arrive together.
#[derive(Clone)]
pub struct SharedBuckets {
    redis: RedisLink,
    tx: mpsc::Sender<Job>,
}

impl SharedBuckets {
    /// Starts the sender task; it stops on `shutdown`.
    pub fn spawn(redis: RedisLink, shutdown: CancellationToken) -> Self {
        let (tx, mut rx) = mpsc::channel::<Job>(QUEUE);
        let link = redis.clone();
        let task = async move {
            loop {
                let first = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    job = rx.recv() => match job { Some(j) => j, None => return },
                };
                // Let the calls already running reach this queue, so one script serves them
                // too, and keep doing so while more keep arriving: a script's cost is mostly
                // fixed (a loopback write and read, Redis' command and Lua set-up), so under
                // load fewer, fuller scripts save CPU on both sides for a few µs of latency.
                // An idle gateway finds nothing new after one yield and sends at once.
                let mut jobs = vec![first];
                for _ in 0..MAX_YIELDS {
                    tokio::task::yield_now().await;
                    let before = jobs.len();
                    while jobs.len() < MAX_BATCH
                        && let Ok(j) = rx.try_recv()
                    {
                        jobs.push(j);
                    }
                    if jobs.len() == before || jobs.len() == MAX_BATCH {
                        break;
                    }
                }
                let (keys, args) = script_input(&jobs);
                let reply = link.eval_ints(&SCRIPT, &keys, &args).await;
                let mut rest = reply.as_deref();
                for job in jobs {
                    let take = 1 + job.windows.len();
                    let mine = match rest {
                        Some(r) if r.len() >= take => {
                            rest = Some(&r[take..]);
                            Some(r[..take].to_vec())
                        }
                        _ => None,
                    };
                    let _ = job.reply.send(mine);
                }
            }
        };
        tokio::spawn(tracing::Instrument::instrument(
            task,
            tracing::info_span!("rate_limit_redis"),
        ));
        Self { redis, tx }
    }

    /// Checks `plan` in Redis; `None` when Redis is away or busy (the caller limits locally).
    pub async fn check(&self, plan: &Plan) -> Option<Decision> {
        let windows = plan
            .windows
            .iter()
            .map(|w| {
                let key = self.redis.key(&format!("{REDIS_NAMESPACE}{}", w.bucket));
                (key, w.interval_us(), u64::from(w.capacity))
            })
            .collect();
        let (reply, answer) = oneshot::channel();
        self.tx.try_send(Job { windows, reply }).ok()?;
        let reply = answer
            .await
            .ok()
            .flatten()
            .filter(|r| r.len() == 1 + plan.windows.len())?;
        let allowed = reply[0] == 1;
        let states: Vec<(u32, u64, u64)> = plan
            .windows
            .iter()
            .zip(&reply[1..])
            .map(|(w, &ahead)| window_state(ahead, w.interval_us(), w.capacity, allowed))
            .collect();
        Some(Decision::new(plan, allowed, &states))
    }
}

#[cfg(test)]
mod tests {
    use super::{Job, SharedBuckets, script_input, window_state};
    use crate::{ratelimit::policy::minute_plan, redis_link::RedisLink};
    use tokio_util::sync::CancellationToken;

    /// The script in Redis, when `REDIS_URL` is set (skipped otherwise): calls checked
    /// together and one by one spend a shared bucket exactly, and a refusal says when to
    /// retry.
    #[tokio::test]
    async fn the_script_spends_a_bucket_exactly_in_redis() {
        let Some(url) = std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty()) else {
            return;
        };
        let prefix = format!("gcratest:{}:", uuid::Uuid::now_v7());
        let redis = RedisLink::new(&url, &prefix).unwrap();
        let shutdown = CancellationToken::new();
        let buckets = SharedBuckets::spawn(redis, shutdown.clone());
        let plan = minute_plan(3);
        // Two at once share a script; the third comes alone.
        let (a, b) = tokio::join!(buckets.check(&plan), buckets.check(&plan));
        let c = buckets.check(&plan).await.expect("Redis answers");
        let mut remaining = vec![
            a.unwrap().windows[0].remaining,
            b.unwrap().windows[0].remaining,
        ];
        remaining.sort_unstable();
        assert_eq!(remaining, vec![1, 2]);
        assert!(c.allowed);
        assert_eq!(c.windows[0].remaining, 0);
        let refused = buckets.check(&plan).await.unwrap();
        assert!(!refused.allowed);
        let w = &refused.windows[0];
        assert!((19..=20).contains(&w.retry_after_secs), "{w:?}");
        assert_eq!(w.remaining, 0);
        let again = buckets.check(&plan).await.unwrap();
        assert!(
            !again.allowed,
            "a refusal consumed nothing but did not refill either"
        );
        shutdown.cancel();
    }

    fn job(windows: &[(&str, u64, u64)]) -> Job {
        Job {
            windows: windows
                .iter()
                .map(|(k, i, c)| ((*k).to_owned(), *i, *c))
                .collect(),
            reply: tokio::sync::oneshot::channel().0,
        }
    }

    #[test]
    fn a_batch_names_each_bucket_and_shape_once() {
        let busy = job(&[("rl:key:a:minute", 6, 10), ("rl:client:c:day", 864, 100)]);
        let other = job(&[("rl:key:b:minute", 60, 1)]);
        let again = job(&[("rl:key:a:minute", 6, 10), ("rl:client:c:day", 864, 100)]);
        let (keys, args) = script_input(&[busy, other, again]);
        assert_eq!(
            keys,
            ["rl:key:a:minute", "rl:client:c:day", "rl:key:b:minute"]
        );
        assert_eq!(
            args,
            [
                3, 1, 6, 10, 2, 864, 100, 3, 60, 1, // shapes
                2, 1, 2, // busy
                1, 3, // other
                2, 1, 2, // again
            ]
        );
    }

    #[test]
    fn window_state_follows_gcra() {
        // 3 per minute: one request every 20 s, all 3 at once.
        let t = 20_000_000;
        // First request: TAT 20 s ahead; 2 left; full again in 20 s.
        assert_eq!(window_state(t as i64, t, 3, true), (2, 20_000, 0));
        // Third: 60 s ahead; none left.
        assert_eq!(window_state(3 * t as i64, t, 3, true), (0, 60_000, 0));
        // Refused at 60 s ahead: the next one fits once TAT is 40 s ahead, in 20 s.
        assert_eq!(window_state(3 * t as i64, t, 3, false), (0, 60_000, 20_000));
        // Refused by another window while this one has room: nothing to wait for here.
        assert_eq!(window_state(t as i64, t, 3, false), (2, 20_000, 0));
        // Untouched bucket.
        assert_eq!(window_state(0, t, 3, true), (3, 0, 0));
    }
}
