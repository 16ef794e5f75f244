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
/// Returns, per call: allowed (1 or 0), then per window how far its theoretical arrival time
/// lies ahead of now (µs, after this call); the gateway derives remaining, reset and
/// retry-after from that (`window_state`).
///
/// Redis' cost is per command and per reply element far more than per Lua step, so each
/// distinct bucket is read once (one MGET) and written once, however many calls of the batch
/// use it (a busy key is exactly the one that appears many times in a batch), and the reply
/// carries one number per window.
const GCRA: &str = r"
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local distinct = {}
local tat_of = {}
for i = 1, #KEYS do
  local key = KEYS[i]
  if tat_of[key] == nil then
    tat_of[key] = 0
    distinct[#distinct + 1] = key
  end
end
local stored = redis.call('MGET', unpack(distinct))
for i = 1, #distinct do
  if stored[i] then tat_of[distinct[i]] = tonumber(stored[i]) end
end
local dirty = {}
local out = {}
local o = 0
local k = 0
local a = 1
while a <= #ARGV do
  local n = tonumber(ARGV[a])
  local allowed = 1
  for i = 1, n do
    local t = tonumber(ARGV[a + 2 * i - 1])
    local cap = tonumber(ARGV[a + 2 * i])
    if math.max(tat_of[KEYS[k + i]], now) + t - now > cap * t then allowed = 0 end
  end
  o = o + 1
  out[o] = allowed
  for i = 1, n do
    local key = KEYS[k + i]
    local tat = math.max(tat_of[key], now)
    if allowed == 1 then
      tat = tat + tonumber(ARGV[a + 2 * i - 1])
      tat_of[key] = tat
      dirty[key] = true
    end
    o = o + 1
    out[o] = tat - now
  end
  k = k + n
  a = a + 1 + 2 * n
end
for i = 1, #distinct do
  local key = distinct[i]
  if dirty[key] then
    local tat = tat_of[key]
    redis.call('SET', key, string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
  end
end
return out
";

/// A window's (remaining, reset ms, retry ms) from how far its theoretical arrival time lies
/// ahead of now (`ahead_us`), its emission interval and capacity, as GCRA defines them.
fn window_state(ahead_us: i64, interval_us: u64, capacity: u32, allowed: bool) -> (u32, u64, u64) {
    let ahead = ahead_us.max(0) as u64;
    let room = u64::from(capacity) * interval_us;
    let remaining = room.saturating_sub(ahead) / interval_us.max(1);
    let retry_us = if allowed {
        0
    } else {
        (ahead + interval_us).saturating_sub(room)
    };
    (
        remaining.min(u64::from(capacity)) as u32,
        ahead.div_ceil(1000),
        retry_us.div_ceil(1000),
    )
}

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
                    let take = 1 + job.windows;
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
            .map(|w| self.redis.key(&format!("rl:{}", w.bucket)))
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
    use super::window_state;

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
