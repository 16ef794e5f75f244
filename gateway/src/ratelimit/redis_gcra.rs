//! Shared limits: GCRA over every window of a call in a Lua script, so a call costs at most
//! one Redis round trip however many windows apply, and all gateways see the same buckets.
//! Calls that arrive while a script is in flight are checked together in the next one, so
//! under load many calls share a round trip (the script evaluates them in arrival order, as
//! if one by one). Redis' own clock is used, so gateways with skewed clocks agree. A refused
//! call consumes nothing. All keys of a script must live on one node (no Redis Cluster).

use super::{decision::Decision, policy::Plan};
use crate::redis_link::RedisLink;
use std::sync::LazyLock;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// ARGV, per call: the number of windows n, then per window the emission interval (µs) and
/// the capacity; KEYS: the n buckets (theoretical arrival time, µs) of each call in turn.
/// Returns, per call: allowed, then per window remaining, reset ms, retry ms.
const GCRA: &str = r"
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local out = {}
local k = 0
local a = 1
while a <= #ARGV do
  local n = tonumber(ARGV[a])
  a = a + 1
  local tats = {}
  local allowed = 1
  for i = 1, n do
    local t = tonumber(ARGV[a + 2 * (i - 1)])
    local cap = tonumber(ARGV[a + 2 * (i - 1) + 1])
    local stored = redis.call('GET', KEYS[k + i])
    local tat = now
    if stored then tat = math.max(tonumber(stored), now) end
    tats[i] = tat
    if tat + t - now > cap * t then allowed = 0 end
  end
  out[#out + 1] = allowed
  for i = 1, n do
    local t = tonumber(ARGV[a + 2 * (i - 1)])
    local cap = tonumber(ARGV[a + 2 * (i - 1) + 1])
    local tat = tats[i]
    local retry = 0
    if allowed == 1 then
      tat = tat + t
      local ttl = math.ceil((tat - now) / 1000) + 1000
      redis.call('SET', KEYS[k + i], string.format('%d', tat), 'PX', ttl)
    else
      retry = math.max(tat + t - cap * t - now, 0)
    end
    out[#out + 1] = math.max(math.floor((cap * t - (tat - now)) / t), 0)
    out[#out + 1] = math.ceil((tat - now) / 1000)
    out[#out + 1] = math.ceil(retry / 1000)
  end
  k = k + n
  a = a + 2 * n
end
return out
";

static SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(GCRA));

/// Most calls checked in one script.
const MAX_BATCH: usize = 128;
/// Calls waiting for a script; beyond it a call is limited locally instead of waiting.
const QUEUE: usize = 4096;

struct Job {
    keys: Vec<String>,
    windows: usize,
    args: Vec<u64>,
    reply: oneshot::Sender<Option<Vec<i64>>>,
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
                // too: under load that halves the round trips for a few µs of latency.
                tokio::task::yield_now().await;
                let mut jobs = vec![first];
                while jobs.len() < MAX_BATCH
                    && let Ok(j) = rx.try_recv()
                {
                    jobs.push(j);
                }
                let keys: Vec<String> = jobs.iter().flat_map(|j| j.keys.iter().cloned()).collect();
                let args: Vec<u64> = jobs.iter().flat_map(|j| j.args.iter().copied()).collect();
                let reply = link.eval_ints(&SCRIPT, &keys, &args).await;
                let mut rest = reply.as_deref();
                for job in jobs {
                    let take = 1 + 3 * job.windows;
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
        let keys = plan
            .windows
            .iter()
            .map(|w| self.redis.key(&format!("rl:{}:{}", plan.subject, w.bucket)))
            .collect();
        let mut args = Vec::with_capacity(1 + 2 * plan.windows.len());
        args.push(plan.windows.len() as u64);
        args.extend(
            plan.windows
                .iter()
                .flat_map(|w| [w.interval_us(), u64::from(w.capacity)]),
        );
        let (reply, answer) = oneshot::channel();
        self.tx
            .try_send(Job {
                keys,
                windows: plan.windows.len(),
                args,
                reply,
            })
            .ok()?;
        let reply = answer.await.ok()??;
        let allowed = reply[0] == 1;
        let clamp = |v: i64| v.max(0) as u64;
        let states: Vec<(u32, u64, u64)> = reply[1..]
            .chunks_exact(3)
            .map(|c| {
                (
                    clamp(c[0]).min(u64::from(u32::MAX)) as u32,
                    clamp(c[1]),
                    clamp(c[2]),
                )
            })
            .collect();
        Some(Decision::new(plan, allowed, &states))
    }
}
