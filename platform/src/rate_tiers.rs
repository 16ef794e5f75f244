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
}
