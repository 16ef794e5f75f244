//! Seed 003's rate-limit tiers. Both svc-auth (validates a key's or client's tier, lists the
//! tiers) and the gateway (enforces them) need the same numbers, so they live here once.

/// One tier's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierLimits {
    /// Tier name as the API spells it.
    pub name: &'static str,
    /// Requests per minute.
    pub per_minute: u32,
    /// Requests per hour.
    pub per_hour: u32,
    /// Requests per day.
    pub per_day: u32,
    /// Most requests accepted at once.
    pub burst: u32,
}

/// Every tier, cheapest first (seed 003 "Rate Limiting Tiers").
pub const TIERS: [TierLimits; 4] = [
    TierLimits {
        name: "basic",
        per_minute: 60,
        per_hour: 1_000,
        per_day: 10_000,
        burst: 10,
    },
    TierLimits {
        name: "standard",
        per_minute: 120,
        per_hour: 5_000,
        per_day: 50_000,
        burst: 20,
    },
    TierLimits {
        name: "premium",
        per_minute: 300,
        per_hour: 15_000,
        per_day: 150_000,
        burst: 50,
    },
    TierLimits {
        name: "enterprise",
        per_minute: 600,
        per_hour: 50_000,
        per_day: 500_000,
        burst: 100,
    },
];

/// The tier called `name` (case-insensitive; seed 003's Prisma enum is upper case).
pub fn tier(name: &str) -> Option<TierLimits> {
    TIERS
        .iter()
        .find(|t| t.name.eq_ignore_ascii_case(name.trim()))
        .copied()
}

/// One window of a tier as a client's shared buckets hold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierWindow {
    /// `minute`, `hour` or `day`: the bucket's last name part.
    pub name: &'static str,
    /// Requests per period.
    pub limit: u32,
    /// Period length in seconds.
    pub period_secs: u32,
    /// Most requests accepted at once: the burst on the minute window, else the limit.
    pub capacity: u32,
}

impl TierWindow {
    /// Microseconds between two requests at the sustained rate (GCRA emission interval).
    pub fn interval_us(&self) -> u64 {
        u64::from(self.period_secs) * 1_000_000 / u64::from(self.limit.max(1))
    }
}

impl TierLimits {
    /// The windows the gateway checks a client's calls against when its keys inherit the
    /// tier (seed 003: per client), shortest first.
    pub fn windows(&self) -> [TierWindow; 3] {
        let w = |name, limit: u32, period_secs, capacity: u32| TierWindow {
            name,
            limit: limit.max(1),
            period_secs,
            capacity: capacity.clamp(1, limit.max(1)),
        };
        [
            w("minute", self.per_minute, 60, self.burst),
            w("hour", self.per_hour, 3600, self.per_hour),
            w("day", self.per_day, 86_400, self.per_day),
        ]
    }
}

/// The owner part of the buckets an API client's keys share (`client:<id>`).
pub fn client_owner(client_id: &str) -> String {
    format!("client:{client_id}")
}

/// A bucket's name: its owner and its window (`client:<id>:minute`, `key:<id>:hour`).
pub fn bucket_name(owner: &str, window: &str) -> String {
    format!("{owner}:{window}")
}

/// Requests a GCRA bucket admits at once when its theoretical arrival time lies `ahead_us`
/// ahead of now: the cells of `capacity` not yet refilled.
pub fn remaining(ahead_us: u64, interval_us: u64, capacity: u32) -> u32 {
    let room = u64::from(capacity) * interval_us;
    (room.saturating_sub(ahead_us) / interval_us.max(1)).min(u64::from(capacity)) as u32
}

/// Seed 004: requests per minute for an API key when neither key nor tier says otherwise.
pub const DEFAULT_API_KEY_PER_MINUTE: u32 = 50;
/// Seed 004: requests per minute for a user token.
pub const DEFAULT_JWT_PER_MINUTE: u32 = 100;

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_case_insensitive() {
        assert_eq!(super::tier("PREMIUM").unwrap().burst, 50);
        assert_eq!(super::tier(" basic").unwrap().per_day, 10_000);
        assert!(super::tier("gold").is_none());
    }

    #[test]
    fn the_burst_caps_the_minute_window_only() {
        let w = super::tier("basic").unwrap().windows();
        let shape: Vec<_> = w
            .iter()
            .map(|w| (w.name, w.limit, w.period_secs, w.capacity))
            .collect();
        assert_eq!(
            shape,
            vec![
                ("minute", 60, 60, 10),
                ("hour", 1000, 3600, 1000),
                ("day", 10_000, 86_400, 10_000)
            ]
        );
        assert_eq!(w[0].interval_us(), 1_000_000);
    }

    #[test]
    fn remaining_counts_the_cells_refilled() {
        use super::remaining;
        assert_eq!(remaining(0, 1_000_000, 10), 10, "a full bucket");
        assert_eq!(remaining(3_000_000, 1_000_000, 10), 7);
        assert_eq!(
            remaining(2_500_000, 1_000_000, 10),
            7,
            "a cell refills whole"
        );
        assert_eq!(remaining(10_000_000, 1_000_000, 10), 0);
        assert_eq!(
            remaining(99_000_000, 1_000_000, 10),
            0,
            "leased past capacity"
        );
    }
}
