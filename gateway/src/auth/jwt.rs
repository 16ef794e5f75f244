//! User tokens. Our own (HS256, minted by svc-auth at login, carrying the workspace) and,
//! when configured, an external issuer's (Supabase-style claims: `sub`, `email`,
//! `aud: authenticated`), checked with its shared secret or its JWKS. The workspace comes
//! from the token or `X-Workspace-ID`, and membership is confirmed with svc-auth (cached).

use crate::error::GatewayError;
use crm_platform::{
    Principal, PrincipalKind, Secret,
    jwt::{Claims, JwtKeys, verify_with},
    principal::PrincipalVerifier,
};
use crm_proto::auth::{
    CheckMembershipRequest, key_validation_service_client::KeyValidationServiceClient,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use moka::future::Cache;
use serde::{Deserialize, Serialize};
use std::{collections::HashMap, sync::Arc, time::Duration};
use tokio::sync::RwLock;
use tonic::transport::Channel;

/// How to accept an external issuer's tokens.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ExternalIssuer {
    /// HS256 shared secret (Supabase's JWT secret); empty when unused.
    pub secret: Secret,
    /// JWKS URL for asymmetric tokens; empty when unused.
    pub jwks_url: String,
    /// Required `iss`; empty accepts any.
    pub issuer: String,
    /// Required `aud`.
    pub audience: String,
}

impl ExternalIssuer {
    fn enabled(&self) -> bool {
        !self.secret.is_empty() || !self.jwks_url.is_empty()
    }
}

/// Verifies user tokens.
#[derive(Clone)]
pub struct JwtVerifier {
    own: JwtKeys,
    external: ExternalIssuer,
    jwks: Arc<RwLock<HashMap<String, (DecodingKey, Algorithm)>>>,
    memberships: Cache<(String, String), Option<String>>,
    auth: KeyValidationServiceClient<Channel>,
    signer: PrincipalVerifier,
}

impl JwtVerifier {
    /// A verifier for our tokens and, if configured, an external issuer's.
    pub fn new(
        own: JwtKeys,
        external: ExternalIssuer,
        auth: Channel,
        signer: PrincipalVerifier,
    ) -> Self {
        Self {
            own,
            external,
            jwks: Arc::default(),
            memberships: Cache::builder()
                .max_capacity(50_000)
                .time_to_live(Duration::from_secs(30))
                .build(),
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
                if let Err(e) = this.refresh_jwks().await {
                    tracing::warn!(error = %e, "jwks refresh failed");
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(600)) => {}
                }
            }
        });
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

    /// Verifies a token and resolves the workspace it acts in.
    pub async fn resolve(
        &self,
        token: &str,
        workspace_header: Option<&str>,
    ) -> Result<Principal, GatewayError> {
        let own_error = match self.own.verify(token) {
            Ok(claims) => return self.own_principal(claims, workspace_header).await,
            Err(e) => e,
        };
        if !self.external.enabled() {
            return Err(GatewayError::unauthenticated("INVALID_TOKEN", own_error.0));
        }
        let claims = self.verify_external(token).await?;
        let workspace = workspace_header
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .or_else(|| (!claims.wid.is_empty()).then(|| claims.wid.clone()))
            .ok_or_else(|| {
                GatewayError::bad_request(
                    "X-Workspace-ID",
                    "send the X-Workspace-ID header to choose a workspace",
                )
            })?;
        let (user_id, role) = self
            .membership(&workspace, &claims.sub, &claims.email)
            .await?;
        let mut p = Principal::new(PrincipalKind::User, &workspace, &user_id);
        p.role = role;
        Ok(p)
    }

    async fn own_principal(
        &self,
        claims: Claims,
        workspace_header: Option<&str>,
    ) -> Result<Principal, GatewayError> {
        let mut p = Principal::new(PrincipalKind::User, &claims.wid, &claims.sub);
        p.role = claims.role;
        if let Some(ws) = workspace_header.filter(|w| !w.is_empty() && *w != claims.wid) {
            let (_, role) = self.membership(ws, &claims.sub, &claims.email).await?;
            p.workspace_id = ws.to_owned();
            p.role = role;
        }
        if p.workspace_id.is_empty() {
            return Err(GatewayError::unauthenticated(
                "INVALID_TOKEN",
                "token names no workspace; log in again",
            ));
        }
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
                // A rotated key: refresh once before refusing.
                let _ = self.refresh_jwks().await;
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
        if !self.external.issuer.is_empty() {
            validation.set_issuer(&[self.external.issuer.as_str()]);
        }
        validation.leeway = 30;
        verify_with(token, &key, &validation).map_err(|e| invalid(e.0))
    }

    async fn membership(
        &self,
        workspace: &str,
        user_id: &str,
        email: &str,
    ) -> Result<(String, String), GatewayError> {
        let cache_key = (workspace.to_owned(), user_id.to_owned());
        let this = self.clone();
        let (ws, uid, mail) = (workspace.to_owned(), user_id.to_owned(), email.to_owned());
        let found = self
            .memberships
            .try_get_with(cache_key, async move {
                this.check_membership(&ws, &uid, &mail).await
            })
            .await
            .map_err(|e: Arc<GatewayError>| (*e).clone())?;
        match found {
            Some(found) => {
                let (uid, role) = found.split_once('|').unwrap_or((user_id, ""));
                Ok((uid.to_owned(), role.to_owned()))
            }
            None => Err(GatewayError::forbidden(
                "NOT_A_MEMBER",
                "you are not a member of that workspace",
            )
            .with_detail("workspace_id", workspace.to_owned())),
        }
    }

    async fn check_membership(
        &self,
        workspace: &str,
        user_id: &str,
        email: &str,
    ) -> Result<Option<String>, GatewayError> {
        let mut request = tonic::Request::new(CheckMembershipRequest {
            workspace_id: workspace.to_owned(),
            user_id: user_id.to_owned(),
            email: email.to_owned(),
        });
        self.signer
            .sign_into(&Principal::service("gateway"), request.metadata_mut())
            .map_err(|e| GatewayError::internal(e.to_string()))?;
        let r = self
            .auth
            .clone()
            .check_membership(request)
            .await
            .map_err(|_| {
                GatewayError::new(
                    tonic::Code::Unavailable,
                    "AUTH_UNAVAILABLE",
                    "cannot check workspace membership right now; retry shortly",
                )
            })?
            .into_inner();
        Ok(r.member.then(|| format!("{}|{}", r.user_id, r.role)))
    }
}
