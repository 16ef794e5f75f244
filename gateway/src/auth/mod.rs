//! Authentication and authorization of every request, REST or gRPC.

pub mod invalidation;
pub mod jwt;
pub mod key_cache;
pub mod membership;

use crate::{error::GatewayError, transcode::table::Access};
use crm_platform::{Principal, PrincipalKind, api_key::looks_like_key};
use http::HeaderMap;
use jwt::JwtVerifier;
use key_cache::{KeyEntry, KeyResolver};
use std::{net::IpAddr, sync::Arc};

/// A credential as presented. Neither printable nor comparable: it is the caller's secret,
/// and only its hash is ever compared (in svc-auth).
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

/// Who is calling: the principal forwarded to services, and for API keys the cached facts
/// about the key (limits, allowlist).
#[derive(Debug)]
pub struct Caller {
    /// The principal.
    pub principal: Principal,
    /// The key, when the caller used one.
    pub key: Option<Arc<KeyEntry>>,
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
    /// Authenticates one call of a method with `access` coming from `ip`: who the caller is,
    /// and whether its credential may be used from there (the key's IP allowlist).
    pub async fn authenticate(
        &self,
        access: &Access,
        headers: &HeaderMap,
        query: Option<&str>,
        ip: IpAddr,
    ) -> Result<Caller, GatewayError> {
        match access {
            Access::Public => {
                return Ok(Caller {
                    principal: Principal::anonymous(),
                    key: None,
                });
            }
            Access::Internal => {
                return Err(GatewayError::new(
                    tonic::Code::NotFound,
                    "NOT_FOUND",
                    "no such endpoint",
                ));
            }
            Access::JwtOnly | Access::Scoped(_) | Access::OptionalUser => {}
        }
        let workspace_header = headers.get("x-workspace-id").and_then(|v| v.to_str().ok());
        match credential(headers, query) {
            Credential::ApiKey(key) => {
                let (principal, key) = self.keys.resolve(key).await?;
                if !key.allows_ip(ip) {
                    return Err(GatewayError::forbidden(
                        "IP_NOT_ALLOWED",
                        format!(
                            "this API key may not be used from {ip}; add the address to the key's allowed_ips (PUT /api/api-keys/{})",
                            key.api_key_id
                        ),
                    )
                    .with_detail("client_ip", ip.to_string())
                    .with_detail("api_key_id", key.api_key_id.clone()));
                }
                Ok(Caller {
                    principal,
                    key: Some(key),
                })
            }
            Credential::Jwt(token) => Ok(Caller {
                principal: self.jwt.resolve(token, workspace_header).await?,
                key: None,
            }),
            // Calls without a caller are limited per address, like public ones.
            Credential::None if *access == Access::OptionalUser => Ok(Caller {
                principal: Principal::anonymous(),
                key: None,
            }),
            Credential::None => Err(GatewayError::unauthenticated(
                "AUTH_REQUIRED",
                "authentication required: send Authorization: Bearer <token or API key>, or X-API-Key",
            )),
        }
    }

    /// Whether an authenticated caller may call a method with `access`: keys need every
    /// scope the method lists, and cannot call JWT-only or optional-user methods.
    pub fn authorize(&self, access: &Access, caller: &Caller) -> Result<(), GatewayError> {
        key_may_call(access, &caller.principal)
    }
}

/// What [`Gatekeeper::authorize`] decides; users and anonymous callers were already admitted
/// by `authenticate`, so only keys are judged here.
fn key_may_call(access: &Access, principal: &Principal) -> Result<(), GatewayError> {
    if principal.kind != PrincipalKind::ApiKey {
        return Ok(());
    }
    match access {
        Access::Scoped(scopes) => {
            if let Some(missing) = scopes.iter().find(|s| !principal.allows(s)) {
                return Err(GatewayError::forbidden(
                    "INSUFFICIENT_SCOPE",
                    format!("API key lacks the '{missing}' scope; add it to the key's permissions"),
                )
                .with_detail("required_scope", missing.clone())
                .with_detail("granted_scopes", principal.scopes.join(" ")));
            }
            Ok(())
        }
        // A key is resolved before it is refused, so a refused call lands in its request
        // log and counts against its limits, as on JWT-only methods.
        Access::JwtOnly | Access::OptionalUser | Access::Public | Access::Internal => {
            Err(GatewayError::forbidden(
                "JWT_REQUIRED",
                "API keys cannot call this endpoint; use a user token (JWT)",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_placements() {
        let mut h = HeaderMap::new();
        assert!(matches!(
            credential(&h, Some("api_key=crm_live_x")),
            Credential::ApiKey("crm_live_x")
        ));
        h.insert("x-api-key", "crm_live_y".parse().unwrap());
        assert!(matches!(
            credential(&h, Some("api_key=crm_live_x")),
            Credential::ApiKey("crm_live_y")
        ));
        h.insert("authorization", "Bearer eyJabc.def.ghi".parse().unwrap());
        assert!(matches!(
            credential(&h, None),
            Credential::Jwt("eyJabc.def.ghi")
        ));
        h.insert("authorization", "Bearer crm_live_z".parse().unwrap());
        assert!(matches!(
            credential(&h, None),
            Credential::ApiKey("crm_live_z")
        ));
        assert!(matches!(
            credential(&HeaderMap::new(), Some("a=b")),
            Credential::None
        ));
    }

    /// A gatekeeper whose svc-auth is never reached (nothing listens on port 1).
    fn gatekeeper() -> Gatekeeper {
        let auth = tonic::transport::Endpoint::from_static("http://127.0.0.1:1").connect_lazy();
        let secret = crm_platform::Secret::new("gatekeeper-test-secret-0123456789abcdef");
        let signer = crm_platform::principal::PrincipalVerifier::new(&secret);
        Gatekeeper {
            keys: KeyResolver::new(
                auth.clone(),
                None,
                signer.clone(),
                key_cache::CacheTtl {
                    positive: std::time::Duration::from_secs(60),
                    negative: std::time::Duration::from_secs(5),
                },
            ),
            jwt: JwtVerifier::new(
                crm_platform::jwt::JwtKeys::hs256(&secret, "crm", "crm-api"),
                jwt::ExternalIssuer::default(),
                auth,
                signer,
                std::time::Duration::from_secs(300),
                None,
            ),
        }
    }

    #[tokio::test]
    async fn an_optional_user_method_admits_anonymous_calls_but_verifies_a_sent_token() {
        let gatekeeper = gatekeeper();
        let ip = IpAddr::from([203, 0, 113, 7]);
        let access = Access::OptionalUser;
        let anonymous = gatekeeper
            .authenticate(&access, &HeaderMap::new(), None, ip)
            .await
            .unwrap();
        assert_eq!(anonymous.principal.kind, Principal::anonymous().kind);
        assert!(gatekeeper.authorize(&access, &anonymous).is_ok());

        let mut bad_token = HeaderMap::new();
        bad_token.insert("authorization", "Bearer eyJabc.def.ghi".parse().unwrap());
        let refused = gatekeeper
            .authenticate(&access, &bad_token, None, ip)
            .await
            .unwrap_err();
        assert_eq!(refused.code, "INVALID_TOKEN");

        let refused = gatekeeper
            .authenticate(&Access::JwtOnly, &HeaderMap::new(), None, ip)
            .await
            .unwrap_err();
        assert_eq!(refused.code, "AUTH_REQUIRED", "JWT-only still needs one");
    }

    #[test]
    fn keys_may_call_scoped_methods_only() {
        let mut key = Principal::new(PrincipalKind::ApiKey, "w", "u");
        key.scopes = vec!["contacts:read".into()];
        let read = Access::Scoped(vec!["contacts:read".into()]);
        let write = Access::Scoped(vec!["contacts:write".into()]);
        assert!(key_may_call(&read, &key).is_ok());
        assert_eq!(
            key_may_call(&write, &key).unwrap_err().code,
            "INSUFFICIENT_SCOPE"
        );
        for access in [Access::JwtOnly, Access::OptionalUser] {
            let refused = key_may_call(&access, &key).unwrap_err();
            assert_eq!(refused.code, "JWT_REQUIRED", "{access:?}");
            assert_eq!(refused.grpc, tonic::Code::PermissionDenied);
        }
        let user = Principal::new(PrincipalKind::User, "w", "u");
        for access in [Access::JwtOnly, Access::OptionalUser, write] {
            assert!(key_may_call(&access, &user).is_ok());
        }
        assert!(key_may_call(&Access::OptionalUser, &Principal::anonymous()).is_ok());
    }
}
