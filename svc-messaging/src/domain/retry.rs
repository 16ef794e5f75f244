//! When a failed send is tried again: exponential backoff from a base, with ±20 % jitter so
//! jobs that failed together do not come back together, never sooner than the provider
//! asked, never later than an hour.

use rand::Rng;
use std::time::Duration;

/// Longest wait between attempts.
const MAX_WAIT: Duration = Duration::from_secs(3600);

/// The wait before attempt `attempts + 1`, after `attempts` (≥ 1) failed.
pub fn wait(
    base: Duration,
    attempts: i32,
    asked: Option<Duration>,
    rng: &mut impl Rng,
) -> Duration {
    let exponent = (attempts.max(1) - 1).min(20) as u32;
    let plain = base
        .saturating_mul(2u32.saturating_pow(exponent))
        .min(MAX_WAIT);
    let jittered = plain.mul_f64(rng.random_range(0.8..1.2));
    jittered.max(asked.unwrap_or_default()).min(MAX_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_with_jitter_and_honours_the_providers_ask() {
        let mut rng = rand::rng();
        let base = Duration::from_secs(1);
        for attempts in 1..6 {
            let w = wait(base, attempts, None, &mut rng);
            let plain = 2f64.powi(attempts - 1);
            assert!(w.as_secs_f64() >= plain * 0.8 && w.as_secs_f64() <= plain * 1.2);
        }
        let asked = Some(Duration::from_secs(30));
        assert!(wait(base, 1, asked, &mut rng) >= Duration::from_secs(30));
        assert!(wait(base, 40, None, &mut rng) <= MAX_WAIT);
    }
}
