//! From exact integers to the figures shown: money in major units (sums stay integer cents
//! until here), percentages with 2 decimals and days with 1, rounded half away from zero in
//! integer arithmetic so the same inputs always give the same answer.

/// Cents as major units (`12345` → `123.45`).
pub fn major(cents: i128) -> f64 {
    cents as f64 / 100.0
}

/// `numerator / denominator`, rounded half away from zero (denominator > 0).
fn div_round(numerator: i128, denominator: i128) -> i128 {
    let half = denominator / 2;
    if numerator >= 0 {
        (numerator + half) / denominator
    } else {
        (numerator - half) / denominator
    }
}

/// A Σ amount × probability (cents × percent) as major units, rounded to the cent.
pub fn weighted_major(cent_percent: i128) -> f64 {
    major(div_round(cent_percent, 100))
}

/// `part / whole` as a percentage with 2 decimals; 0 when `whole` is 0.
pub fn percent(part: i64, whole: i64) -> f64 {
    if whole <= 0 {
        return 0.0;
    }
    div_round(i128::from(part) * 10_000, i128::from(whole)) as f64 / 100.0
}

/// The mean of `count` amounts summing to `cents`, in major units rounded to the cent; 0
/// when there are none.
pub fn average(cents: i128, count: i64) -> f64 {
    if count <= 0 {
        return 0.0;
    }
    major(div_round(cents, i128::from(count)))
}

/// Seconds as days with 1 decimal; 0 when there is nothing to average.
pub fn days(seconds: Option<f64>) -> f64 {
    match seconds {
        Some(s) if s.is_finite() => (s / 86_400.0 * 10.0).round() / 10.0,
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(percent(2, 3), 66.67);
        assert_eq!(percent(1, 3), 33.33);
        assert_eq!(percent(1, 8), 12.5);
        assert_eq!(percent(23, 35), 65.71);
        assert_eq!(percent(0, 0), 0.0);
        assert_eq!(average(100, 3), 0.33);
        assert_eq!(average(200, 3), 0.67);
        assert_eq!(weighted_major(12_345 * 75), 92.59);
        assert_eq!(weighted_major(150), 0.02);
        assert_eq!(days(Some(86_400.0 * 2.25)), 2.3);
        assert_eq!(days(None), 0.0);
    }

    #[test]
    fn large_sums_stay_exact_until_shown() {
        let cents: i128 = 9_300 * 1_000_000_000_000_000;
        assert_eq!(major(cents), 9.3e16);
        assert_eq!(average(cents, 9_300), 1e13);
    }
}
