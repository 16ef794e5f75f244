//! Who may do what. API keys act through their scopes (the gateway checks them too; services
//! re-check the principal they are handed); users through their workspace role.

use crm_platform::{Principal, PrincipalKind, error::ApiError, roles::role_allows};
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
