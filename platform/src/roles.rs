//! What each workspace role may do, in scopes. Services apply it to users' calls, and svc-auth
//! to the keys users mint: a key never has more than its owner.

/// Resources whose changes shape the workspace (pipelines and their stages): managers and
/// above only.
const SHAPING: &[&str] = &["pipelines", "stages"];

/// Whether a member with `role` may do everything `scope` covers. `scope` is
/// `resource:action` and may hold wildcards (`*`, `contacts:*`, `*:read`): viewers read,
/// agents also work records (not pipelines or stages), managers and above do everything.
/// Roles we do not know (tokens of an external issuer carry none of ours) count as agents.
pub fn role_allows(role: &str, scope: &str) -> bool {
    let (resource, action) = scope.split_once(':').unwrap_or((scope, "*"));
    match role {
        "owner" | "admin" | "manager" => true,
        "viewer" => action == "read",
        _ => action == "read" || (resource != "*" && !SHAPING.contains(&resource)),
    }
}

#[cfg(test)]
mod tests {
    use super::role_allows;

    #[test]
    fn roles_grant_what_they_should() {
        assert!(role_allows("viewer", "opportunities:read"));
        assert!(role_allows("viewer", "*:read"));
        assert!(!role_allows("viewer", "opportunities:write"));
        assert!(role_allows("agent", "contacts:write"));
        assert!(role_allows("agent", "contacts:*"));
        assert!(role_allows("agent", "pipelines:read"));
        assert!(!role_allows("agent", "stages:delete"));
        assert!(!role_allows("agent", "pipelines:*"));
        assert!(!role_allows("agent", "*:write"), "covers pipelines:write");
        assert!(!role_allows("agent", "*"));
        assert!(role_allows("manager", "pipelines:delete"));
        assert!(role_allows("owner", "*"));
    }
}
