//! User tokens. Our own (HS256, minted by svc-auth at login, carrying the workspace) and,
//! when configured, an external issuer's (Supabase-style claims: `sub`, `email`,
//! `aud: authenticated`), checked with its shared secret or its JWKS. The workspace comes
//! from the token or `X-Workspace-ID`; membership and role are confirmed with svc-auth on
//! every call, through the membership cache.

use super::membership::{Membership, MembershipCache, MembershipKey};
use crate::{error::GatewayError, redis_link::RedisLink};
use crm_platform::{
    Principal, PrincipalKind, Secret,
    jwt::{Claims, JwtKeys, verify_with},
    principal::PrincipalVerifier,
};
use crm_proto::auth::{
    CheckMembershipRequest, key_validation_service_client::KeyValidationServiceClient,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use serde::{Deserialize, Serialize};
use std::{collections::HashMap, sync::Arc, time::Duration};
use tokio::{sync::RwLock, time::Instant};

/// Least time between two JWKS fetches prompted by unknown key ids: tokens naming made-up
/// `kid`s must not turn the gateway into a client hammering the issuer.
pub const JWKS_REFETCH_COOLDOWN: Duration = Duration::from_secs(30);
use tonic::transport::Channel;

/// How to accept an external issuer's tokens.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ExternalIssuer {
    /// HS256 shared secret (Supabase's JWT secret); empty when unused.
    pub secret: Secret,
    /// JWKS URL for asymmetric tokens; empty when unused.
    pub jwks_url: String,
    /// Required `iss`; must be set when the issuer is enabled (its subjects are cached and
    /// linked per issuer).
    pub issuer: String,
    /// Required `aud`.
    pub audience: String,
}

impl ExternalIssuer {
    /// Whether external tokens are accepted (a secret or a JWKS URL is set).
    pub fn enabled(&self) -> bool {
        !self.secret.is_empty() || !self.jwks_url.is_empty()
    }

    /// Start-up check: an enabled issuer names its `iss`, so that its subjects can never be
    /// taken for another issuer's or for our own users.
    pub fn check(&self) -> Result<(), String> {
        if self.enabled() && self.issuer.trim().is_empty() {
            return Err(
                "external_jwt.issuer is required when an external token issuer is configured: set CRM_EXTERNAL_JWT__ISSUER to the `iss` its tokens carry (for Supabase, https://<project>.supabase.co/auth/v1)"
                    .into(),
            );
        }
        Ok(())
    }
}

/// Verifies user tokens.
#[derive(Clone)]
pub struct JwtVerifier {
    own: JwtKeys,
    external: ExternalIssuer,
    jwks: Arc<RwLock<HashMap<String, (DecodingKey, Algorithm)>>>,
    /// When the JWKS was last fetched. Held across a fetch, so concurrent refreshes wait for
    /// the one running and share its result (single flight).
    jwks_fetched: Arc<tokio::sync::Mutex<Option<Instant>>>,
    memberships: MembershipCache,
    auth: KeyValidationServiceClient<Channel>,
    signer: PrincipalVerifier,
}

impl JwtVerifier {
    /// A verifier for our tokens and, if configured, an external issuer's. Memberships are
    /// cached for `membership_ttl` (a second while `redis` is configured and down).
    pub fn new(
        own: JwtKeys,
        external: ExternalIssuer,
        auth: Channel,
        signer: PrincipalVerifier,
        membership_ttl: Duration,
        redis: Option<RedisLink>,
    ) -> Self {
        Self {
            own,
            external,
            jwks: Arc::default(),
            jwks_fetched: Arc::default(),
            memberships: MembershipCache::new(membership_ttl, redis),
            auth: KeyValidationServiceClient::new(auth),
            signer,
        }
    }

    /// Fetches the JWKS now and then every ten minutes, until `shutdown`.
    pub fn spawn_jwks_refresh(&self, shutdown: tokio_util::sync::CancellationToken) {
        if self.external.jwks_url.is_empty() {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                let mut fetched = this.jwks_fetched.lock().await;
                *fetched = Some(Instant::now());
                if let Err(e) = this.refresh_jwks().await {
                    tracing::warn!(error = %e, "jwks refresh failed");
                }
                drop(fetched);
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(600)) => {}
                }
            }
        });
    }

    /// Refetches the JWKS for a token naming `kid`, which it does not hold: at most one
    /// fetch at a time (callers arriving meanwhile wait for it) and none within
    /// [`JWKS_REFETCH_COOLDOWN`] of the last. Returns whether a fetch was made.
    async fn refresh_for_unknown_kid(&self, kid: &str) -> bool {
        let mut fetched = self.jwks_fetched.lock().await;
        if self.jwks.read().await.contains_key(kid) {
            // The fetch we waited for brought it.
            return false;
        }
        if fetched.is_some_and(|at| at.elapsed() < JWKS_REFETCH_COOLDOWN) {
            return false;
        }
        *fetched = Some(Instant::now());
        if let Err(e) = self.refresh_jwks().await {
            tracing::warn!(error = %e, "jwks refresh for an unknown key id failed");
        }
        true
    }

    async fn refresh_jwks(&self) -> Result<(), String> {
        let set: JwkSet = reqwest::Client::new()
            .get(&self.external.jwks_url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            let Some(alg) = jwk
                .common
                .key_algorithm
                .and_then(|a| a.to_string().parse::<Algorithm>().ok())
            else {
                continue;
            };
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                keys.insert(kid, (key, alg));
            }
        }
        tracing::info!(keys = keys.len(), "jwks loaded");
        *self.jwks.write().await = keys;
        Ok(())
    }

    /// Verifies a token and resolves the workspace it acts in and the caller's role there.
    pub async fn resolve(
        &self,
        token: &str,
        workspace_header: Option<&str>,
    ) -> Result<Principal, GatewayError> {
        let own_error = match self.own.verify(token) {
            Ok(claims) => return self.own_principal(&claims, workspace_header).await,
            Err(e) => e,
        };
        if !self.external.enabled() {
            return Err(GatewayError::unauthenticated("INVALID_TOKEN", own_error.0));
        }
        let claims = self.verify_external(token).await?;
        self.external_principal(&claims, workspace_header).await
    }

    /// Our token: the role comes from the membership, never from the token, so a role change
    /// or removal counts from the next call; a token minted before the user's last password
    /// change is refused.
    async fn own_principal(
        &self,
        claims: &Claims,
        workspace_header: Option<&str>,
    ) -> Result<Principal, GatewayError> {
        let workspace = workspace_header
            .filter(|w| !w.is_empty())
            .unwrap_or(&claims.wid);
        if workspace.is_empty() {
            return Err(GatewayError::unauthenticated(
                "INVALID_TOKEN",
                "token names no workspace; log in again",
            ));
        }
        let key = MembershipKey::own(workspace, &claims.sub);
        let member = self.membership(key, &claims.email, false).await?;
        if claims.ver < member.token_version {
            return Err(GatewayError::unauthenticated(
                "TOKEN_REVOKED",
                "this token was issued before your password changed; log in again",
            ));
        }
        let mut p = Principal::new(PrincipalKind::User, workspace, &claims.sub);
        p.role = member.role.clone();
        Ok(p)
    }

    /// An external issuer's token: the workspace comes from `X-Workspace-ID` (or a `wid`
    /// claim), the user from svc-auth linking the issuer's subject to one of ours.
    async fn external_principal(
        &self,
        claims: &Claims,
        workspace_header: Option<&str>,
    ) -> Result<Principal, GatewayError> {
        let workspace = workspace_header
            .filter(|w| !w.is_empty())
            .or_else(|| (!claims.wid.is_empty()).then_some(claims.wid.as_str()))
            .ok_or_else(|| {
                GatewayError::bad_request(
                    "X-Workspace-ID",
                    "send the X-Workspace-ID header to choose a workspace",
                )
            })?;
        let key = MembershipKey::external(workspace, &claims.iss, &claims.sub);
        let email_verified = claims.email_verified.unwrap_or(false);
        let member = self.membership(key, &claims.email, email_verified).await?;
        let mut p = Principal::new(PrincipalKind::User, workspace, &member.user_id);
        p.role = member.role.clone();
        Ok(p)
    }

    async fn verify_external(&self, token: &str) -> Result<Claims, GatewayError> {
        let invalid = |m: String| GatewayError::unauthenticated("INVALID_TOKEN", m);
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| invalid("token is malformed".into()))?;
        let (key, alg) = if header.alg == Algorithm::HS256 && !self.external.secret.is_empty() {
            (
                DecodingKey::from_secret(self.external.secret.expose().as_bytes()),
                Algorithm::HS256,
            )
        } else {
            let kid = header
                .kid
                .ok_or_else(|| invalid("token has no key id (kid)".into()))?;
            if !self.jwks.read().await.contains_key(&kid) {
                // Perhaps a rotated key: refresh (shared, rate-bounded) before refusing.
                self.refresh_for_unknown_kid(&kid).await;
            }
            self.jwks
                .read()
                .await
                .get(&kid)
                .cloned()
                .ok_or_else(|| invalid("token signed by an unknown key".into()))?
        };
        let mut validation = Validation::new(alg);
        validation.set_audience(&[self.external.audience.as_str()]);
        validation.set_issuer(&[self.external.issuer.as_str()]);
        // jsonwebtoken checks `iss` only when present: require it, since the membership cache
        // and svc-auth's link are keyed by it (an empty one would look like our own user).
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        verify_with(token, &key, &validation).map_err(|e| invalid(e.0))
    }

    /// The caller's membership of `key.workspace` (cached), or 403 when there is none.
    async fn membership(
        &self,
        key: MembershipKey,
        email: &str,
        email_verified: bool,
    ) -> Result<Arc<Membership>, GatewayError> {
        let load = || {
            let request = CheckMembershipRequest {
                workspace_id: key.workspace.clone(),
                user_id: key.subject.clone(),
                email: email.to_owned(),
                issuer: key.issuer.clone(),
                email_verified,
            };
            let (auth, signer) = (self.auth.clone(), self.signer.clone());
            async move { check_membership(auth, &signer, request).await }
        };
        let entry = self.memberships.get_or_load(&key, load).await?;
        entry.member.clone().ok_or_else(|| {
            GatewayError::forbidden("NOT_A_MEMBER", "you are not a member of that workspace")
                .with_detail("workspace_id", key.workspace)
        })
    }

    /// The membership cache, for the task that applies the bus's invalidations.
    pub fn memberships(&self) -> &MembershipCache {
        &self.memberships
    }
}

/// Asks svc-auth whether the caller is a member; `None` when not.
async fn check_membership(
    mut auth: KeyValidationServiceClient<Channel>,
    signer: &PrincipalVerifier,
    body: CheckMembershipRequest,
) -> Result<Option<Membership>, GatewayError> {
    let mut request = tonic::Request::new(body);
    signer
        .sign_into(&Principal::service("gateway"), request.metadata_mut())
        .map_err(|e| GatewayError::internal(e.to_string()))?;
    request.set_timeout(Duration::from_secs(3));
    let r = auth
        .check_membership(request)
        .await
        .map_err(|s| {
            tracing::warn!(code = ?s.code(), "CheckMembership failed");
            GatewayError::new(
                tonic::Code::Unavailable,
                "AUTH_UNAVAILABLE",
                "cannot check workspace membership right now; retry shortly",
            )
        })?
        .into_inner();
    Ok(r.member.then_some(Membership {
        user_id: r.user_id,
        role: r.role,
        token_version: r.token_version,
    }))
}
