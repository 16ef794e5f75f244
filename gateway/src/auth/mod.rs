//! Authentication and authorization of every request, REST or gRPC.

pub mod jwt;
pub mod key_cache;

use crate::{error::GatewayError, transcode::table::Access};
use crm_platform::{Principal, PrincipalKind, api_key::looks_like_key};
use http::HeaderMap;
use jwt::JwtVerifier;
use key_cache::KeyResolver;

/// A credential as presented.
#[derive(Debug, PartialEq, Eq)]
pub enum Credential<'a> {
    /// An API key.
    ApiKey(&'a str),
    /// A user token.
    Jwt(&'a str),
    /// Nothing.
    None,
}

/// Finds the credential: `Authorization: Bearer`, then `X-API-Key`, then `?api_key=`.
pub fn credential<'a>(headers: &'a HeaderMap, query: Option<&'a str>) -> Credential<'a> {
    if let Some(token) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
    {
        return if looks_like_key(token) {
            Credential::ApiKey(token)
        } else {
            Credential::Jwt(token)
        };
    }
    if let Some(key) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Credential::ApiKey(key.trim());
    }
    if let Some(key) = query.and_then(|q| q.split('&').find_map(|p| p.strip_prefix("api_key="))) {
        return Credential::ApiKey(key);
    }
    Credential::None
}

/// Decides who a request is for and whether it may call the method.
#[derive(Clone)]
pub struct Gatekeeper {
    /// API keys.
    pub keys: KeyResolver,
    /// User tokens.
    pub jwt: JwtVerifier,
}

impl Gatekeeper {
    /// Authenticates and authorizes one call of a method with `access`.
    pub async fn admit(
        &self,
        access: &Access,
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Result<Principal, GatewayError> {
        let required = match access {
            Access::Public => return Ok(Principal::anonymous()),
            Access::Internal => {
                return Err(GatewayError::new(
                    tonic::Code::NotFound,
                    "NOT_FOUND",
                    "no such endpoint",
                ));
            }
            Access::JwtOnly => None,
            Access::Scoped(scopes) => Some(scopes),
        };
        let workspace_header = headers.get("x-workspace-id").and_then(|v| v.to_str().ok());
        let principal = match credential(headers, query) {
            Credential::ApiKey(key) => self.keys.resolve(key).await?,
            Credential::Jwt(token) => self.jwt.resolve(token, workspace_header).await?,
            Credential::None => {
                return Err(GatewayError::unauthenticated(
                    "AUTH_REQUIRED",
                    "authentication required: send Authorization: Bearer <token or API key>, or X-API-Key",
                ));
            }
        };
        if principal.kind == PrincipalKind::ApiKey {
            match required {
                None => {
                    return Err(GatewayError::forbidden(
                        "JWT_REQUIRED",
                        "API keys cannot call this endpoint; use a user token (JWT)",
                    ));
                }
                Some(scopes) => {
                    if let Some(missing) = scopes.iter().find(|s| !principal.allows(s)) {
                        return Err(GatewayError::forbidden(
                            "INSUFFICIENT_SCOPE",
                            format!("API key lacks the '{missing}' scope; add it to the key's permissions"),
                        )
                        .with_detail("required_scope", missing.clone())
                        .with_detail("granted_scopes", principal.scopes.join(" ")));
                    }
                }
            }
        }
        Ok(principal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_placements() {
        let mut h = HeaderMap::new();
        assert_eq!(
            credential(&h, Some("api_key=crm_live_x")),
            Credential::ApiKey("crm_live_x")
        );
        h.insert("x-api-key", "crm_live_y".parse().unwrap());
        assert_eq!(
            credential(&h, Some("api_key=crm_live_x")),
            Credential::ApiKey("crm_live_y")
        );
        h.insert("authorization", "Bearer eyJabc.def.ghi".parse().unwrap());
        assert_eq!(credential(&h, None), Credential::Jwt("eyJabc.def.ghi"));
        h.insert("authorization", "Bearer crm_live_z".parse().unwrap());
        assert_eq!(credential(&h, None), Credential::ApiKey("crm_live_z"));
        assert_eq!(credential(&HeaderMap::new(), Some("a=b")), Credential::None);
    }
}
