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

    /// Rank: owner 4 > admin 3 > manager 2 > agent 1 > viewer 0.
    pub fn rank(self) -> u8 {
        match self {
            Self::Owner => 4,
            Self::Admin => 3,
            Self::Manager => 2,
            Self::Agent => 1,
            Self::Viewer => 0,
        }
    }

    /// Parses a role sent by a caller, naming the field when it is not one.
    pub fn parse_field(s: &str, field: &str) -> Result<Self, ApiError> {
        Self::parse(s.trim()).map_err(|_| {
            ApiError::invalid_field(field, "must be one of owner, admin, manager, agent, viewer")
        })
    }
}

/// A refusal because of the caller's role; `rule` names the rule it breaks.
pub fn refuse(rule: &str) -> ApiError {
    ApiError::new(tonic::Code::PermissionDenied, "ROLE_NOT_ALLOWED", rule)
}

/// Whether `actor` may move `target` (currently `current`) to `new`. Rules: only owners and
/// admins change roles; only an owner makes, changes or unmakes owners and admins; nobody
/// raises their own role. (Keeping one owner is checked against the table, not here.)
pub fn check_role_change(
    actor: Role,
    acting_on_self: bool,
    current: Role,
    new: Role,
) -> Result<(), ApiError> {
    if acting_on_self && new.rank() > current.rank() {
        return Err(refuse("nobody can raise their own role"));
    }
    if acting_on_self && new.rank() <= current.rank() {
        // Stepping down is always one's own choice.
        return Ok(());
    }
    if !actor.manages_all_keys() {
        return Err(refuse("only owners and admins change members' roles"));
    }
    let touches_top = |r: Role| matches!(r, Role::Owner | Role::Admin);
    if (touches_top(current) || touches_top(new)) && actor != Role::Owner {
        return Err(refuse(
            "only an owner makes or removes admins and owners; admins manage managers, agents and viewers",
        ));
    }
    Ok(())
}

/// Whether `actor` may remove a member whose role is `target`. Anyone may leave; otherwise
/// as for role changes.
pub fn check_removal(actor: Role, acting_on_self: bool, target: Role) -> Result<(), ApiError> {
    if acting_on_self {
        return Ok(());
    }
    if !actor.manages_all_keys() {
        return Err(refuse("only owners and admins remove members"));
    }
    if matches!(target, Role::Owner | Role::Admin) && actor != Role::Owner {
        return Err(refuse(
            "only an owner removes admins and owners; admins manage managers, agents and viewers",
        ));
    }
    Ok(())
}

/// Whether `actor` may invite someone as `invited`: owners invite any role but owner (which
/// is transferred, not invited), admins invite managers, agents and viewers.
pub fn check_invite(actor: Role, invited: Role) -> Result<(), ApiError> {
    if !actor.manages_all_keys() {
        return Err(refuse("only owners and admins invite members"));
    }
    if invited == Role::Owner {
        return Err(ApiError::invalid_field(
            "role",
            "invite as admin at most; make an owner with transfer-ownership",
        ));
    }
    if invited == Role::Admin && actor != Role::Owner {
        return Err(refuse("only an owner invites admins"));
    }
    Ok(())
}

/// Every role, most powerful first.
pub const ALL: [Role; 5] = [
    Role::Owner,
    Role::Admin,
    Role::Manager,
    Role::Agent,
    Role::Viewer,
];

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

    /// Every actor, target and new role, on self and on others.
    #[test]
    fn role_change_rules_hold_for_every_combination() {
        for actor in ALL {
            for current in ALL {
                for new in ALL {
                    for on_self in [false, true] {
                        if on_self && actor != current {
                            continue;
                        }
                        let allowed = check_role_change(actor, on_self, current, new).is_ok();
                        if on_self {
                            assert_eq!(
                                allowed,
                                new.rank() <= current.rank(),
                                "{actor:?} self {new:?}"
                            );
                            continue;
                        }
                        if actor.rank() < Role::Admin.rank() {
                            assert!(!allowed, "{actor:?} changed {current:?}");
                        }
                        if actor == Role::Admin {
                            let low = |r: Role| r.rank() <= Role::Manager.rank();
                            assert_eq!(
                                allowed,
                                low(current) && low(new),
                                "admin {current:?}->{new:?}"
                            );
                        }
                        if actor == Role::Owner {
                            assert!(allowed);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn removal_and_invite_rules() {
        assert!(check_removal(Role::Viewer, true, Role::Viewer).is_ok());
        assert!(check_removal(Role::Owner, true, Role::Owner).is_ok());
        assert!(check_removal(Role::Manager, false, Role::Viewer).is_err());
        assert!(check_removal(Role::Admin, false, Role::Manager).is_ok());
        assert!(check_removal(Role::Admin, false, Role::Admin).is_err());
        assert!(check_removal(Role::Owner, false, Role::Admin).is_ok());
        assert!(check_invite(Role::Admin, Role::Agent).is_ok());
        assert!(check_invite(Role::Admin, Role::Admin).is_err());
        assert!(check_invite(Role::Owner, Role::Admin).is_ok());
        assert!(check_invite(Role::Owner, Role::Owner).is_err());
        assert!(check_invite(Role::Manager, Role::Viewer).is_err());
    }
}
