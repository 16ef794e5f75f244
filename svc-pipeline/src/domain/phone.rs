//! Phone numbers in E.164 (`+` and 8–15 digits), the one form stored and compared, so
//! "(555) 123-4567" and "+15551234567" are recognised as the same contact.

use crm_platform::error::ApiError;

const HINT: &str = "must be a valid phone number in E.164 format, e.g. +15551234567";

/// A phone number in E.164 form, parsed once at the edge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct E164Phone(String);

impl E164Phone {
    /// Normalizes `raw`: drops spaces, dashes, dots and parentheses; keeps `+` with 8–15
    /// digits; reads a `00` prefix as `+`; takes 10 digits, or 11 starting with 1, as a
    /// North American number (+1), the seed's market. Anything else is refused, naming `field`.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ApiError> {
        let invalid = || ApiError::invalid_field(field, HINT);
        let compact: String = raw
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
            .collect();
        let (plus, digits) = match compact.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => match compact.strip_prefix("00") {
                Some(rest) => (true, rest),
                None => (false, compact.as_str()),
            },
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let international = if plus {
            digits.to_owned()
        } else if digits.len() == 10 {
            format!("1{digits}")
        } else if digits.len() == 11 && digits.starts_with('1') {
            digits.to_owned()
        } else {
            return Err(invalid());
        };
        // E.164 allows at most 15 digits; fewer than 8 cannot be a dialable number, and no
        // country code starts with 0.
        if !(8..=15).contains(&international.len()) || international.starts_with('0') {
            return Err(invalid());
        }
        Ok(Self(format!("+{international}")))
    }

    /// The number as stored: `+` and digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The stored string.
    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(raw: &str) -> Option<String> {
        E164Phone::parse("phone_number", raw)
            .ok()
            .map(E164Phone::into_string)
    }

    #[test]
    fn formats_of_one_number_agree() {
        for raw in [
            "+15551234567",
            "(555) 123-4567",
            "555.123.4567",
            "5551234567",
            "15551234567",
            "1-555-123-4567",
            "+1 (555) 123-4567",
            "001 555 123 4567",
            "  +1 555 123 4567  ",
        ] {
            assert_eq!(norm(raw).as_deref(), Some("+15551234567"), "{raw}");
        }
    }

    #[test]
    fn international_numbers_keep_their_country_code() {
        assert_eq!(norm("+44 7911 123456").as_deref(), Some("+447911123456"));
        assert_eq!(norm("0044 7911 123456").as_deref(), Some("+447911123456"));
        assert_eq!(norm("+4930123456").as_deref(), Some("+4930123456"));
    }

    #[test]
    fn rejects_what_is_not_a_number() {
        for raw in [
            "",
            "+",
            "abc",
            "555-1234",
            "+1234567",
            "+1234567890123456",
            "25551234567",
            "555123456",
            "+1555x1234567",
            "+0123456789",
            "++15551234567",
        ] {
            assert_eq!(norm(raw), None, "{raw}");
        }
        let err = E164Phone::parse("phone", "nope").unwrap_err().into_status();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(
            err.message()
                .starts_with("phone: must be a valid phone number")
        );
    }
}
