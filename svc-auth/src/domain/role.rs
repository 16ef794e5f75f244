//! Workspace roles and what each may do with API keys.

use crm_platform::error::ApiError;

/// A member's role in a workspace, most powerful first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Created the workspace; may do everything.
    Owner,
    /// Manages the workspace and every member's keys.
    Admin,
    /// Manages records and their own keys.
    Manager,
    /// Works records and manages their own keys.
    Agent,
    /// Reads only; may not mint keys.
    Viewer,
}

impl Role {
    /// Parses a stored or claimed role.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        Ok(match s {
            "owner" => Self::Owner,
            "admin" => Self::Admin,
            "manager" => Self::Manager,
            "agent" => Self::Agent,
            "viewer" => Self::Viewer,
            other => {
                return Err(ApiError::forbidden(format!(
                    "role '{other}' is not a workspace role"
                )));
            }
        })
    }

    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Manager => "manager",
            Self::Agent => "agent",
            Self::Viewer => "viewer",
        }
    }

    /// May see and change every key of the workspace, not only their own.
    pub fn manages_all_keys(self) -> bool {
        matches!(self, Self::Owner | Self::Admin)
    }

    /// May mint keys at all.
    pub fn may_mint_keys(self) -> bool {
        !matches!(self, Self::Viewer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_rank() {
        for r in ["owner", "admin", "manager", "agent", "viewer"] {
            assert_eq!(Role::parse(r).unwrap().as_str(), r);
        }
        assert!(Role::parse("root").is_err());
        assert!(Role::Admin.manages_all_keys() && !Role::Agent.manages_all_keys());
        assert!(!Role::Viewer.may_mint_keys() && Role::Agent.may_mint_keys());
    }
}
