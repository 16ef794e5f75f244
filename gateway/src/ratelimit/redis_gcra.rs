//! Shared limits: GCRA over every window of a plan in one Lua script, so one request costs
//! one Redis round trip however many windows apply, and all gateways see the same buckets.
//! Redis' own clock is used, so gateways with skewed clocks still agree. A refused request
//! consumes nothing.

use super::{decision::Decision, policy::Plan};
use crate::redis_link::RedisLink;
use std::sync::LazyLock;

/// KEYS[i]: the bucket (theoretical arrival time, µs) of window i.
/// ARGV[2i-1]: emission interval in µs; ARGV[2i]: capacity (burst).
/// Returns {allowed, then per window: remaining, reset ms, retry ms}.
const GCRA: &str = r"
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local n = #KEYS
local tats = {}
local allowed = 1
for i = 1, n do
  local t = tonumber(ARGV[2 * i - 1])
  local cap = tonumber(ARGV[2 * i])
  local stored = redis.call('GET', KEYS[i])
  local tat = now
  if stored then tat = math.max(tonumber(stored), now) end
  tats[i] = tat
  if tat + t - now > cap * t then allowed = 0 end
end
local out = {allowed}
for i = 1, n do
  local t = tonumber(ARGV[2 * i - 1])
  local cap = tonumber(ARGV[2 * i])
  local tat = tats[i]
  local retry = 0
  if allowed == 1 then
    tat = tat + t
    local ttl = math.ceil((tat - now) / 1000) + 1000
    redis.call('SET', KEYS[i], string.format('%d', tat), 'PX', ttl)
  else
    retry = math.max(tat + t - cap * t - now, 0)
  end
  local remaining = math.max(math.floor((cap * t - (tat - now)) / t), 0)
  out[#out + 1] = remaining
  out[#out + 1] = math.ceil((tat - now) / 1000)
  out[#out + 1] = math.ceil(retry / 1000)
end
return out
";

static SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(GCRA));

/// Checks `plan` in Redis; `None` when Redis is away (the caller limits locally instead).
pub async fn check(redis: &RedisLink, plan: &Plan) -> Option<Decision> {
    let keys: Vec<String> = plan
        .windows
        .iter()
        .map(|w| redis.key(&format!("rl:{}:{}", plan.subject, w.bucket)))
        .collect();
    let args: Vec<u64> = plan
        .windows
        .iter()
        .flat_map(|w| [w.interval_us(), u64::from(w.capacity)])
        .collect();
    let reply = redis.eval_ints(&SCRIPT, &keys, &args).await?;
    if reply.len() != 1 + 3 * plan.windows.len() {
        tracing::error!(len = reply.len(), "unexpected rate-limit script reply");
        return None;
    }
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
