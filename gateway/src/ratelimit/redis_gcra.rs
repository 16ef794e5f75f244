//! Shared limits: GCRA over every window of a call in a Lua script, so a call costs at most
//! one Redis round trip however many windows apply, and all gateways see the same buckets.
//! Calls that arrive while a script is in flight are checked together in the next one, so
//! under load many calls share a round trip (the script evaluates them in arrival order, as
//! if one by one). A busy caller with plenty of room is leased cells ahead of its calls
//! (`lease`), so most of its calls need no round trip at all. Redis' own clock is used, so
//! gateways with skewed clocks agree. A refused call consumes nothing. All keys of a script
//! must live on one node (no Redis Cluster).

use super::{
    decision::Decision,
    lease::{self, Leases, Take},
    policy::{BucketWindow, Plan},
};
use crate::redis_link::RedisLink;
use crm_platform::quota_view::REDIS_NAMESPACE;
use std::{
    collections::HashMap,
    sync::{Arc, LazyLock},
    time::Instant,
};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// KEYS: every distinct bucket of the batch (theoretical arrival time, µs), once each.
/// ARGV: the number S of distinct window shapes, then per shape its bucket (index into KEYS),
/// emission interval (µs) and capacity; then per call the number of windows n, the cells it
/// would lease beyond itself (`want`), the cells of an expired lease it gives back
/// (`refund`), and the n shapes it checks. Returns, per call: allowed (1 or 0), the cells
/// leased, then per window how far its theoretical arrival time lies ahead of now (µs, after
/// this call and its lease); the gateway derives remaining, reset and retry-after from that
/// (`window_state`). A lease is granted only when every window keeps at least MIN_ROOM cells
/// after the call, and takes at most 1/SHARE of them (`lease::MIN_ROOM`, `lease::SHARE`).
///
/// Redis' cost is per command, per argument and per reply element far more than per Lua
/// step: a busy key is exactly the one that appears many times in a batch, so its name and
/// its window's numbers are sent, parsed, read (one MGET) and written once, each call names
/// its windows by a small index, and the reply carries one number per window.
const GCRA: &str = r"
local MIN_ROOM, SHARE = {MIN_ROOM}, {SHARE}
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
  local want = tonumber(ARGV[a + 1])
  local refund = tonumber(ARGV[a + 2])
  local first = a + 3
  if refund > 0 then
    for i = 0, n - 1 do
      local s = tonumber(ARGV[first + i])
      local k = bucket[s]
      if tat[k] > now then
        tat[k] = math.max(now, tat[k] - refund * interval[s])
        dirty[k] = true
      end
    end
  end
  local allowed = 1
  for i = 0, n - 1 do
    local s = tonumber(ARGV[first + i])
    local t = interval[s]
    if math.max(tat[bucket[s]], now) + t - now > capacity[s] * t then allowed = 0 end
  end
  local granted = 0
  if allowed == 1 and want > 0 then
    granted = want
    for i = 0, n - 1 do
      local s = tonumber(ARGV[first + i])
      local t = interval[s]
      local room = math.floor((capacity[s] * t - (math.max(tat[bucket[s]], now) + t - now)) / t)
      if room < MIN_ROOM then
        granted = 0
      else
        granted = math.min(granted, math.floor(room / SHARE))
      end
    end
  end
  o = o + 1
  out[o] = allowed
  o = o + 1
  out[o] = granted
  for i = 0, n - 1 do
    local s = tonumber(ARGV[first + i])
    local k = bucket[s]
    local v = math.max(tat[k], now)
    if allowed == 1 then
      v = v + interval[s] * (1 + granted)
      tat[k] = v
      dirty[k] = true
    end
    o = o + 1
    out[o] = v - now
  end
  a = first + n
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

static SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        &GCRA
            .replace("{MIN_ROOM}", &lease::MIN_ROOM.to_string())
            .replace("{SHARE}", &lease::SHARE.to_string()),
    )
});

/// Most calls checked in one script.
const MAX_BATCH: usize = 128;
/// Most times the sender yields to let more calls join a script.
const MAX_YIELDS: usize = 4;
/// Calls waiting for a script; beyond it a call is limited locally instead of waiting.
const QUEUE: usize = 4096;

struct Job {
    /// Per window: bucket key, emission interval (µs), capacity.
    windows: Arc<[BucketWindow]>,
    /// Cells to lease beyond the call.
    want: u32,
    /// Cells of an expired lease given back.
    refund: u32,
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
        calls.extend([
            job.windows.len() as u64,
            u64::from(job.want),
            u64::from(job.refund),
        ]);
        for (key, interval, capacity) in job.windows.iter() {
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
    leases: Arc<Leases>,
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
                    let take = 2 + job.windows.len();
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
        Self {
            redis,
            tx,
            leases: Arc::default(),
        }
    }

    /// Forgets leases of plans no longer called.
    pub fn prune(&self) {
        self.leases.prune(Instant::now());
    }

    /// Checks `plan` against the shared buckets, from this gateway's lease when it holds one;
    /// `None` when Redis is away or busy (the caller limits locally).
    pub async fn check(&self, plan: &Plan) -> Option<Decision> {
        let intervals = plan.intervals();
        // Buckets too small ever to be leased (every seed tier, the defaults, per-address
        // limits) keep no lease book entry: no signature, lock or map slot per call.
        if plan
            .windows
            .iter()
            .any(|w| u64::from(w.capacity) <= lease::MIN_ROOM)
        {
            let reply = self.ask(plan, 0, 0).await?;
            return Some(decide(plan, reply[0] == 1, &reply[2..]));
        }
        let signature = plan.signature();
        let mut first = true;
        let (want, refund) = loop {
            match self
                .leases
                .take(signature, intervals, Instant::now(), first)
            {
                Take::Served(ahead) => return Some(decide(plan, true, &ahead)),
                Take::Ask { want, refund } => break (want, refund),
                Take::Wait(mut settled) => {
                    first = false;
                    // A lost ask (its call dropped) is forgotten after a while.
                    let _ = tokio::time::timeout(lease::ASK_PATIENCE, settled.changed()).await;
                }
            }
        };
        let reply = self.ask(plan, want, refund).await;
        let granted = reply
            .as_ref()
            .map_or(0, |r| u32::try_from(r[1]).unwrap_or(0));
        let ahead = reply.as_deref().map_or(&[][..], |r| &r[2..]);
        self.leases
            .settle(signature, want, granted, ahead, Instant::now());
        let allowed = reply.as_ref()?[0] == 1;
        // This call's own state, as if the leased cells were still in the buckets.
        let own: Vec<i64> = ahead
            .iter()
            .zip(intervals)
            .map(|(&a, &t)| a - i64::from(granted) * t as i64)
            .collect();
        Some(decide(plan, allowed, &own))
    }

    /// One call's reply from the script (allowed, granted, then per window); `None` when
    /// Redis is away, the queue is full or the reply is malformed.
    async fn ask(&self, plan: &Plan, want: u32, refund: u32) -> Option<Vec<i64>> {
        let windows = plan.bucket_windows(|w| {
            let key = self.redis.key(&format!("{REDIS_NAMESPACE}{}", w.bucket));
            (key, w.interval_us(), u64::from(w.capacity))
        });
        let (reply, answer) = oneshot::channel();
        self.tx
            .try_send(Job {
                windows,
                want,
                refund,
                reply,
            })
            .ok()?;
        answer
            .await
            .ok()
            .flatten()
            .filter(|r| r.len() == 2 + plan.windows.len())
    }
}

/// The decision for `plan` from how far each window's theoretical arrival time lies ahead.
fn decide(plan: &Plan, allowed: bool, ahead_us: &[i64]) -> Decision {
    let states: Vec<(u32, u64, u64)> = plan
        .windows
        .iter()
        .zip(ahead_us.iter().zip(plan.intervals()))
        .map(|(w, (&ahead, &t))| window_state(ahead, t, w.capacity, allowed))
        .collect();
    Decision::new(plan, allowed, &states)
}

#[cfg(test)]
mod tests {
    use super::{Job, script_input, window_state};

    fn job(windows: &[(&str, u64, u64)]) -> Job {
        Job {
            windows: windows
                .iter()
                .map(|(k, i, c)| ((*k).to_owned(), *i, *c))
                .collect::<Vec<_>>()
                .into(),
            want: 0,
            refund: 0,
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
                2, 0, 0, 1, 2, // busy
                1, 0, 0, 3, // other
                2, 0, 0, 1, 2, // again
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
