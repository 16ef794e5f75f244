//! Passwords and logins.

use super::{AuthState, role::Role};
use crate::store::{
    entities::{users, workspaces},
    workspace as store,
};
use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use crm_platform::{error::ApiError, jwt::Claims};
use tonic::Status;

/// A successful login.
pub struct Session {
    /// Signed JWT.
    pub token: String,
    /// When it expires, unix seconds.
    pub expires_at: i64,
    /// Who logged in.
    pub user: users::Model,
    /// The workspace the token acts in.
    pub workspace: workspaces::Model,
    /// The user's role there.
    pub role: Role,
}

/// Hashes a password with argon2id off the async runtime.
pub async fn hash_password(password: String) -> Result<String, Status> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| crm_platform::error::internal("hash password", e))
    })
    .await
    .map_err(|e| crm_platform::error::internal("hash password task", e))?
}

async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// A hash that matches no password, verified when the email is unknown so that an unknown
/// email and a wrong password take the same time.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$9sTbSlTio3Biev89thdrlKKiCaYsjjYVJxGAL3swxpQ";

/// Checks email and password and mints a token for the chosen (or first) workspace.
pub async fn login(
    state: &AuthState,
    email: &str,
    password: &str,
    workspace_id: &str,
) -> Result<Session, Status> {
    let email = email.trim().to_ascii_lowercase();
    if email.is_empty() {
        return Err(ApiError::invalid_field("email", "is required").into());
    }
    if password.is_empty() {
        return Err(ApiError::invalid_field("password", "is required").into());
    }
    let refused = || Status::from(ApiError::unauthenticated("invalid email or password"));
    let user = store::find_user_by_email_global(&state.db, &email).await?;
    let Some(user) = user else {
        verify_password(password.to_owned(), DUMMY_HASH.to_owned()).await;
        return Err(refused());
    };
    if !verify_password(password.to_owned(), user.password_hash.clone()).await {
        return Err(refused());
    }
    let memberships = store::memberships_of_user_global(&state.db, &user.id).await?;
    let chosen = if workspace_id.is_empty() {
        memberships.into_iter().next()
    } else {
        memberships
            .into_iter()
            .find(|(_, ws)| ws.id == workspace_id)
    };
    let Some((membership, workspace)) = chosen else {
        return Err(
            ApiError::forbidden("you are not a member of that workspace")
                .with_field("workspace_id", "not a workspace of this user")
                .into(),
        );
    };
    let role = Role::parse(&membership.role)?;
    let now = chrono::Utc::now().timestamp();
    let expires_at = now + state.token_ttl_secs;
    let token = state
        .jwt
        .sign(Claims {
            sub: user.id.clone(),
            email: user.email.clone(),
            wid: workspace.id.clone(),
            role: role.as_str().to_owned(),
            iss: String::new(),
            aud: String::new(),
            exp: expires_at,
            iat: now,
        })
        .map_err(|e| crm_platform::error::internal("sign token", e))?;
    tracing::info!(user_id = %user.id, workspace_id = %workspace.id, "login");
    Ok(Session {
        token,
        expires_at,
        user,
        workspace,
        role,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn password_hash_verifies_only_the_password() {
        let h = hash_password("correct horse".into()).await.unwrap();
        assert!(verify_password("correct horse".into(), h.clone()).await);
        assert!(!verify_password("wrong".into(), h).await);
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!verify_password("anything".into(), DUMMY_HASH.into()).await);
    }
}
