//! The principal: who a call is made for, signed by the gateway (or an internal caller) and
//! verified by every service. A client-supplied `workspace_id` never widens access because
//! services read the workspace from here, not from the request.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::time::{SystemTime, UNIX_EPOCH};
use tonic::{Request, Status, metadata::MetadataMap};

/// Metadata key carrying the encoded principal.
pub const PRINCIPAL_HEADER: &str = "x-crm-principal";
/// Metadata key carrying the hex HMAC-SHA256 of the encoded principal.
pub const SIGNATURE_HEADER: &str = "x-crm-principal-sig";
/// Metadata key carrying the caller's address as the gateway saw it (for the audit log; the
/// gateway drops any value a client sends).
pub const CLIENT_IP_HEADER: &str = "x-crm-client-ip";
/// Metadata key carrying the request id the gateway assigned.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// How long a signed principal stays valid: long enough for one call, short enough that a
/// captured header is useless soon after.
pub const PRINCIPAL_TTL_SECS: i64 = 60;

/// What kind of caller a principal stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrincipalKind {
    /// A user authenticated by JWT.
    User,
    /// An API key.
    ApiKey,
    /// Another service of ours, authenticated by the shared service secret.
    Service,
    /// No credentials: allowed only on public RPCs.
    Anonymous,
}

impl PrincipalKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::ApiKey => "api_key",
            Self::Service => "service",
            Self::Anonymous => "anonymous",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "user" => Self::User,
            "api_key" => Self::ApiKey,
            "service" => Self::Service,
            "anonymous" => Self::Anonymous,
            _ => return None,
        })
    }

    /// The name used in API responses.
    pub fn name(self) -> &'static str {
        self.as_str()
    }
}

/// The authenticated caller of one RPC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// Kind of caller.
    pub kind: PrincipalKind,
    /// Workspace the call acts in; empty for anonymous and service callers.
    pub workspace_id: String,
    /// User id (JWT), owner user id (API key) or service name.
    pub subject: String,
    /// The API key used, if any.
    pub api_key_id: String,
    /// The user's role in the workspace (JWT only).
    pub role: String,
    /// Normalized `resource:action` scopes (API keys only; users are governed by role).
    pub scopes: Vec<String>,
    /// Unix seconds after which the signature is no longer accepted.
    pub expires_at: i64,
    /// The request id of the call, when the gateway sent one (not signed: for logs and the
    /// audit trail only).
    pub request_id: String,
    /// The caller's address as the gateway saw it (not signed: for the audit trail only).
    pub client_ip: String,
}

impl Principal {
    /// A caller with no credentials, for public RPCs.
    pub fn anonymous() -> Self {
        Self::new(PrincipalKind::Anonymous, "", "")
    }

    /// One of our own services calling another.
    pub fn service(name: &str) -> Self {
        Self::new(PrincipalKind::Service, "", name)
    }

    /// A principal of the given kind, valid for [`PRINCIPAL_TTL_SECS`].
    pub fn new(kind: PrincipalKind, workspace_id: &str, subject: &str) -> Self {
        Self {
            kind,
            workspace_id: workspace_id.to_owned(),
            subject: subject.to_owned(),
            api_key_id: String::new(),
            role: String::new(),
            scopes: Vec::new(),
            expires_at: now_unix() + PRINCIPAL_TTL_SECS,
            request_id: String::new(),
            client_ip: String::new(),
        }
    }

    /// True when the caller may act on `required` (`resource:action`): users act through
    /// their role (checked by the service), keys through their scopes.
    pub fn allows(&self, required: &str) -> bool {
        match self.kind {
            PrincipalKind::User | PrincipalKind::Service => true,
            PrincipalKind::ApiKey => self.scopes.iter().any(|s| scope_allows(s, required)),
            PrincipalKind::Anonymous => false,
        }
    }

    /// The principal attached to a request by [`PrincipalVerifier`]'s interceptor.
    pub fn of<T>(request: &Request<T>) -> Result<&Principal, Status> {
        request
            .extensions()
            .get::<Principal>()
            .ok_or_else(|| Status::unauthenticated("missing principal"))
    }

    /// The workspace the call acts in; refuses callers that have none.
    pub fn workspace(&self) -> Result<&str, Status> {
        if self.workspace_id.is_empty() {
            return Err(Status::unauthenticated(
                "this call needs a workspace: authenticate with a user token or an API key",
            ));
        }
        Ok(&self.workspace_id)
    }

    fn encode(&self) -> Result<String, Status> {
        let fields = [
            self.workspace_id.as_str(),
            self.subject.as_str(),
            self.api_key_id.as_str(),
            self.role.as_str(),
        ];
        if fields.iter().any(|f| f.contains('|'))
            || self.scopes.iter().any(|s| s.contains([',', '|']))
        {
            return Err(Status::invalid_argument(
                "principal field contains a reserved character",
            ));
        }
        Ok(format!(
            "v1|{}|{}|{}|{}|{}|{}|{}",
            self.kind.as_str(),
            self.workspace_id,
            self.subject,
            self.api_key_id,
            self.role,
            self.scopes.join(","),
            self.expires_at
        ))
    }

    fn decode(s: &str) -> Option<Self> {
        let mut parts = s.split('|');
        if parts.next()? != "v1" {
            return None;
        }
        let kind = PrincipalKind::parse(parts.next()?)?;
        let workspace_id = parts.next()?.to_owned();
        let subject = parts.next()?.to_owned();
        let api_key_id = parts.next()?.to_owned();
        let role = parts.next()?.to_owned();
        let scopes = parts.next()?;
        let expires_at = parts.next()?.parse().ok()?;
        if parts.next().is_some() {
            return None;
        }
        let scopes = if scopes.is_empty() {
            Vec::new()
        } else {
            scopes.split(',').map(str::to_owned).collect()
        };
        Some(Self {
            kind,
            workspace_id,
            subject,
            api_key_id,
            role,
            scopes,
            expires_at,
            request_id: String::new(),
            client_ip: String::new(),
        })
    }
}

/// True when a granted scope covers a required one. `*` covers everything, `contacts:*` every
/// action on contacts, `*:read` reading anything.
pub fn scope_allows(granted: &str, required: &str) -> bool {
    if granted == "*" || granted == required {
        return true;
    }
    let (Some((gr, ga)), Some((rr, ra))) = (granted.split_once(':'), required.split_once(':'))
    else {
        return false;
    };
    (gr == "*" || gr == rr) && (ga == "*" || ga == ra)
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// Signs and verifies principals with the shared service secret.
#[derive(Clone)]
pub struct PrincipalVerifier {
    mac: Hmac<Sha256>,
}

impl PrincipalVerifier {
    /// A verifier (and signer) keyed with the shared service secret.
    pub fn new(secret: &crate::Secret) -> Self {
        let mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
            .expect("HMAC accepts keys of any length");
        Self { mac }
    }

    /// Writes the principal and its signature into outgoing metadata.
    pub fn sign_into(
        &self,
        principal: &Principal,
        metadata: &mut MetadataMap,
    ) -> Result<(), Status> {
        let (encoded, signature) = self.sign(principal)?;
        metadata.insert(
            PRINCIPAL_HEADER,
            encoded
                .parse()
                .map_err(|_| Status::internal("principal is not valid metadata"))?,
        );
        metadata.insert(
            SIGNATURE_HEADER,
            signature
                .parse()
                .map_err(|_| Status::internal("signature is not valid metadata"))?,
        );
        Ok(())
    }

    /// The encoded principal and its hex signature, for callers writing raw HTTP headers.
    pub fn sign(&self, principal: &Principal) -> Result<(String, String), Status> {
        let encoded = principal.encode()?;
        let mut mac = self.mac.clone();
        mac.update(encoded.as_bytes());
        Ok((encoded, hex::encode(mac.finalize().into_bytes())))
    }

    /// Checks signature (in constant time) and expiry of the principal in `metadata`.
    pub fn verify(&self, metadata: &MetadataMap) -> Result<Principal, Status> {
        let encoded = metadata
            .get(PRINCIPAL_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                Status::unauthenticated("call carries no principal; go through the gateway")
            })?;
        let signature = metadata
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| hex::decode(v).ok())
            .ok_or_else(|| Status::unauthenticated("principal is not signed"))?;
        let mut mac = self.mac.clone();
        mac.update(encoded.as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| Status::unauthenticated("principal signature does not verify"))?;
        let principal = Principal::decode(encoded)
            .ok_or_else(|| Status::unauthenticated("malformed principal"))?;
        if principal.expires_at < now_unix() {
            return Err(Status::unauthenticated("principal has expired"));
        }
        Ok(principal)
    }

    /// A tonic interceptor that rejects calls without a valid principal and attaches it.
    pub fn interceptor(&self) -> impl tonic::service::Interceptor + Clone + Send + Sync + 'static {
        let verifier = self.clone();
        move |mut request: Request<()>| {
            let mut principal = verifier.verify(request.metadata())?;
            let text = |key: &str| {
                request
                    .metadata()
                    .get(key)
                    .and_then(|v| v.to_str().ok())
                    .map(|v| v.chars().take(128).collect::<String>())
                    .unwrap_or_default()
            };
            principal.request_id = text(REQUEST_ID_HEADER);
            principal.client_ip = text(CLIENT_IP_HEADER);
            request.extensions_mut().insert(principal);
            Ok(request)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;

    fn key_principal() -> Principal {
        let mut p = Principal::new(PrincipalKind::ApiKey, "ws-1", "user-1");
        p.api_key_id = "key-1".into();
        p.scopes = vec!["contacts:read".into(), "opportunities:*".into()];
        p
    }

    #[test]
    fn signed_principal_round_trips() {
        let v = PrincipalVerifier::new(&Secret::new("s3cret"));
        let mut md = MetadataMap::new();
        v.sign_into(&key_principal(), &mut md).unwrap();
        assert_eq!(v.verify(&md).unwrap(), key_principal());
    }

    #[test]
    fn tampered_or_foreign_signature_is_rejected() {
        let v = PrincipalVerifier::new(&Secret::new("s3cret"));
        let mut md = MetadataMap::new();
        v.sign_into(&key_principal(), &mut md).unwrap();
        let other = PrincipalVerifier::new(&Secret::new("other"));
        assert!(other.verify(&md).is_err());
        let forged = md
            .get(PRINCIPAL_HEADER)
            .unwrap()
            .to_str()
            .unwrap()
            .replace("ws-1", "ws-2");
        md.insert(PRINCIPAL_HEADER, forged.parse().unwrap());
        assert!(v.verify(&md).is_err());
    }

    #[test]
    fn expired_principal_is_rejected() {
        let v = PrincipalVerifier::new(&Secret::new("s3cret"));
        let mut p = key_principal();
        p.expires_at = now_unix() - 1;
        let mut md = MetadataMap::new();
        v.sign_into(&p, &mut md).unwrap();
        assert!(v.verify(&md).is_err());
    }

    #[test]
    fn scope_wildcards() {
        assert!(scope_allows("contacts:read", "contacts:read"));
        assert!(scope_allows("contacts:*", "contacts:write"));
        assert!(scope_allows("*:read", "tags:read"));
        assert!(scope_allows("*", "tags:delete"));
        assert!(!scope_allows("contacts:read", "contacts:write"));
        assert!(!scope_allows("contacts:read", "tags:read"));
        assert!(key_principal().allows("opportunities:delete"));
        assert!(!key_principal().allows("pipelines:read"));
    }
}
