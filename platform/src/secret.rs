//! A string that never prints.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Holds a secret (signing key, password, token). `Debug` and `Display` print a placeholder so
/// a config dump or an error message can never leak it.
#[derive(Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is used, never to log.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Refuses a secret shorter than 32 characters, naming the setting and its variable.
    pub fn require_strong(&self, setting: &str, env: &str) -> Result<(), String> {
        if self.0.len() < 32 {
            return Err(format!("{setting} must be at least 32 characters ({env})"));
        }
        Ok(())
    }

    /// True when no secret was configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "Secret(***) ***");
        assert_eq!(s.expose(), "hunter2");
        assert!(
            s.require_strong("jwt_secret", "CRM_JWT_SECRET")
                .unwrap_err()
                .contains("CRM_JWT_SECRET")
        );
        assert!(Secret::new("x".repeat(32)).require_strong("a", "B").is_ok());
    }
}
