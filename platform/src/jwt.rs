//! User tokens: HS256 JWTs minted by svc-auth and checked by the gateway, plus tokens of an
//! external issuer (Supabase-style claims) checked with its secret or JWKS.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Claims of the tokens svc-auth mints.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// User email.
    #[serde(default)]
    pub email: String,
    /// Workspace the token acts in (our tokens); external tokens may omit it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub wid: String,
    /// Role in that workspace (our tokens); external tokens carry e.g. "authenticated".
    #[serde(default)]
    pub role: String,
    /// Issuer.
    #[serde(default)]
    pub iss: String,
    /// Audience.
    #[serde(default)]
    pub aud: String,
    /// Expiry, unix seconds.
    pub exp: i64,
    /// Issued at, unix seconds.
    #[serde(default)]
    pub iat: i64,
    /// The user's token version when minted (our tokens): a password change raises it, and
    /// tokens with an older one are refused.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ver: u32,
    /// Whether the issuer verified `email` (external tokens, OIDC's claim); an unverified
    /// email never links a token to one of our users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// Signs and checks tokens with one HS256 secret, issuer and audience.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
}

/// The token was refused.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct JwtError(pub String);

impl JwtKeys {
    /// Keys for `secret`; tokens must name `issuer` and `audience`.
    pub fn hs256(secret: &crate::Secret, issuer: &str, audience: &str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.leeway = 30;
        Self {
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        }
    }

    /// Signs claims, filling in issuer and audience.
    pub fn sign(&self, mut claims: Claims) -> Result<String, JwtError> {
        claims.iss = self.issuer.clone();
        claims.aud = self.audience.clone();
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| JwtError(e.to_string()))
    }

    /// Verifies signature, expiry, issuer and audience.
    pub fn verify(&self, token: &str) -> Result<Claims, JwtError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|d| d.claims)
            .map_err(|e| JwtError(describe(&e)))
    }
}

/// Verifies a token against a decoding key and validation built elsewhere (JWKS).
pub fn verify_with(
    token: &str,
    key: &DecodingKey,
    validation: &Validation,
) -> Result<Claims, JwtError> {
    jsonwebtoken::decode::<Claims>(token, key, validation)
        .map(|d| d.claims)
        .map_err(|e| JwtError(describe(&e)))
}

fn describe(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::ExpiredSignature => "token has expired; log in again".into(),
        ErrorKind::InvalidAudience => "token audience is not accepted".into(),
        ErrorKind::InvalidIssuer => "token issuer is not accepted".into(),
        ErrorKind::InvalidSignature => "token signature is invalid".into(),
        _ => "token is malformed".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: "u1".into(),
            email: "a@b.c".into(),
            wid: "w1".into(),
            role: "owner".into(),
            iss: String::new(),
            aud: String::new(),
            exp,
            iat: 0,
            ver: 0,
            email_verified: None,
        }
    }

    #[test]
    fn signs_and_verifies() {
        let keys = JwtKeys::hs256(&Secret::new("k"), "crm", "crm-api");
        let now = chrono::Utc::now().timestamp();
        let token = keys.sign(claims(now + 60)).unwrap();
        let back = keys.verify(&token).unwrap();
        assert_eq!(back.wid, "w1");
        assert_eq!(back.iss, "crm");
    }

    #[test]
    fn rejects_expired_and_foreign_tokens() {
        let keys = JwtKeys::hs256(&Secret::new("k"), "crm", "crm-api");
        let now = chrono::Utc::now().timestamp();
        let expired = keys.sign(claims(now - 3600)).unwrap();
        assert!(keys.verify(&expired).unwrap_err().0.contains("expired"));
        let other = JwtKeys::hs256(&Secret::new("other"), "crm", "crm-api");
        assert!(keys.verify(&other.sign(claims(now + 60)).unwrap()).is_err());
    }
}
