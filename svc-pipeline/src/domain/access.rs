//! Who may do what. API keys act through their scopes (the gateway checks them too; services
//! re-check the principal they are handed). Users act through their workspace role: viewers
//! read, agents work records, managers and above also shape pipelines and stages.

use crm_platform::{Principal, PrincipalKind, error::ApiError};
use tonic::Status;

/// Checks that `principal` may perform `scope` (`resource:action`); returns its workspace.
pub fn authorize<'p>(principal: &'p Principal, scope: &str) -> Result<&'p str, Status> {
    let workspace = principal.workspace()?;
    let allowed = match principal.kind {
        PrincipalKind::ApiKey => principal.allows(scope),
        PrincipalKind::User => role_allows(&principal.role, scope),
        PrincipalKind::Service => true,
        PrincipalKind::Anonymous => false,
    };
    if !allowed {
        return Err(ApiError::forbidden(format!(
            "this action needs '{scope}'; ask a workspace admin for access"
        ))
        .with_meta("required_scope", scope)
        .into());
    }
    Ok(workspace)
}

fn role_allows(role: &str, scope: &str) -> bool {
    let (resource, action) = scope.split_once(':').unwrap_or((scope, ""));
    match role {
        "owner" | "admin" | "manager" => true,
        "agent" => action == "read" || !matches!(resource, "pipelines" | "stages"),
        "viewer" => action == "read",
        // Tokens from an external issuer carry no role of ours: treat them as agents.
        _ => action == "read" || !matches!(resource, "pipelines" | "stages"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grant_what_they_should() {
        assert!(role_allows("viewer", "opportunities:read"));
        assert!(!role_allows("viewer", "opportunities:write"));
        assert!(role_allows("agent", "contacts:write"));
        assert!(!role_allows("agent", "stages:delete"));
        assert!(role_allows("manager", "pipelines:delete"));
    }
}
