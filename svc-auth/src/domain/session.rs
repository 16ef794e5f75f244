//! Sign-up, logins and password changes: each answers with a session (a signed token for
//! one workspace).

use super::{AuthState, login_throttle, password, role::Role, workspaces};
use crate::store::{
    db_error,
    entities::{users, workspaces as workspace_rows},
    members, workspace as store,
};
use crm_platform::db::is_unique_violation;
use crm_platform::{Principal, PrincipalKind, error::ApiError, jwt::Claims};
use sea_orm::TransactionTrait;
use serde::{Deserialize, Serialize};
use tonic::Status;

/// Who may sign up (`CRM_AUTH__SIGNUP`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignupMode {
    /// Anyone may register and gets a workspace of their own.
    Open,
    /// Accounts are made only by accepting an invitation.
    #[default]
    InviteOnly,
}

/// A successful login.
pub struct Session {
    /// Signed JWT.
    pub token: String,
    /// When it expires, unix seconds.
    pub expires_at: i64,
    /// Who logged in.
    pub user: users::Model,
    /// The workspace the token acts in.
    pub workspace: workspace_rows::Model,
    /// The user's role there.
    pub role: Role,
}

/// Hashes a password with argon2id on the bounded pool.
pub async fn hash_password(password: String) -> Result<String, Status> {
    password::hash(password).await
}

/// Mints a token for `user` acting in `workspace` with `role`.
pub(super) fn mint(
    state: &AuthState,
    user: users::Model,
    workspace: workspace_rows::Model,
    role: Role,
) -> Result<Session, Status> {
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
            ver: u32::try_from(user.token_version).unwrap_or_default(),
            email_verified: None,
        })
        .map_err(|e| crm_platform::error::internal("sign token", e))?;
    Ok(Session {
        token,
        expires_at,
        user,
        workspace,
        role,
    })
}

/// An email as stored: trimmed, lower-cased, and shaped like one.
pub fn email(value: &str) -> Result<String, ApiError> {
    let email = value.trim().to_lowercase();
    if email.is_empty() {
        return Err(ApiError::invalid_field("email", "is required"));
    }
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        })
        && !email.chars().any(char::is_whitespace);
    if !valid {
        return Err(ApiError::invalid_field("email", "is not an email address"));
    }
    Ok(email)
}

/// A person's display name: 1 to 100 characters.
pub fn person_name(value: &str) -> Result<String, ApiError> {
    workspaces::display_name(value, "name")
}

/// Checks email and password and mints a token for the chosen (or first) workspace. An
/// unknown email and a wrong password get the same answer in the same time.
pub async fn login(
    state: &AuthState,
    email: &str,
    password: &str,
    workspace_id: &str,
) -> Result<Session, Status> {
    let email = email.trim().to_lowercase();
    if email.is_empty() {
        return Err(ApiError::invalid_field("email", "is required").into());
    }
    if password.is_empty() {
        return Err(ApiError::invalid_field("password", "is required").into());
    }
    let user = check_credentials(state, &email, password).await?;
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
    tracing::info!(user_id = %user.id, workspace_id = %workspace.id, "login");
    mint(state, user, workspace, role)
}

/// The user whose email and password these are, with failed attempts slowed down per
/// account.
pub(super) async fn check_credentials(
    state: &AuthState,
    email: &str,
    password: &str,
) -> Result<users::Model, Status> {
    let now = super::now();
    login_throttle::check(state, email, now).await?;
    let user = store::find_user_by_email_global(&state.db, email).await?;
    let hash = user
        .as_ref()
        .map_or(password::DUMMY_HASH, |u| u.password_hash.as_str())
        .to_owned();
    let matches = password::verify(password.to_owned(), hash).await?;
    match user {
        Some(user) if matches => {
            login_throttle::succeeded(state, email).await?;
            Ok(user)
        }
        _ => {
            // The delay counts from the answer, not from the start of the (slow) check.
            login_throttle::failed(state, email, super::now()).await?;
            Err(ApiError::unauthenticated("invalid email or password").into())
        }
    }
}

/// What sign-up asks for.
pub struct Registration {
    /// The new user's email.
    pub email: String,
    /// Their password.
    pub password: String,
    /// Their name.
    pub name: String,
    /// The name of the workspace they will own.
    pub workspace_name: String,
}

/// Signs up: a user, a workspace they own, and a session there.
pub async fn register(state: &AuthState, input: Registration) -> Result<Session, Status> {
    if state.signup == SignupMode::InviteOnly {
        return Err(ApiError::forbidden(
            "sign-up is by invitation only: ask an owner or admin of a workspace to invite you (POST /api/workspaces/{id}/invitations), then accept it at POST /api/invitations/{token}/accept",
        )
        .into());
    }
    let email = email(&input.email)?;
    password::check_new(&input.password, &email, "password")?;
    let name = person_name(&input.name)?;
    let workspace_name = workspaces::display_name(&input.workspace_name, "workspace_name")?;
    if store::find_user_by_email_global(&state.db, &email)
        .await?
        .is_some()
    {
        return Err(ApiError::already_exists(
            "an account with this email exists; log in instead (POST /api/auth/login)",
        )
        .with_field("email", "already registered")
        .into());
    }
    let hash = password::hash(input.password).await?;
    let taken = || {
        Status::from(
            ApiError::already_exists("an account with this email exists; log in instead")
                .with_field("email", "already registered"),
        )
    };
    let txn = state.db.begin().await.map_err(db_error("begin"))?;
    let workspace = members::insert_workspace(&txn, &workspace_name, "UTC", "USD")
        .await
        .map_err(db_error("insert workspace"))?;
    // The unique email decides a race between two sign-ups of one address.
    let user = match members::insert_user(&txn, &email, &name, &hash).await {
        Ok(user) => user,
        Err(e) if is_unique_violation(&e) => {
            return Err(taken());
        }
        Err(e) => return Err(db_error("insert user")(e)),
    };
    members::insert_membership(&txn, &workspace.id, &user.id, Role::Owner.as_str())
        .await
        .map_err(db_error("insert membership"))?;
    txn.commit().await.map_err(db_error("commit"))?;
    tracing::info!(user_id = %user.id, workspace_id = %workspace.id, "signed up");
    mint(state, user, workspace, Role::Owner)
}

/// Changes the caller's password. Tokens issued before stop working (the user's token
/// version rises and gateways are told); the answer is a fresh session for the same
/// workspace.
pub async fn change_password(
    state: &AuthState,
    principal: &Principal,
    current: &str,
    new: &str,
) -> Result<Session, Status> {
    if principal.kind != PrincipalKind::User {
        return Err(ApiError::forbidden("this call needs a user token (JWT)").into());
    }
    if current.is_empty() {
        return Err(ApiError::invalid_field("current_password", "is required").into());
    }
    let user = members::user_global(&state.db, &principal.subject)
        .await
        .map_err(db_error("find user"))?
        .ok_or_else(|| ApiError::unauthenticated("your account no longer exists"))?;
    password::check_new(new, &user.email, "new_password")?;
    if current == new {
        return Err(
            ApiError::invalid_field("new_password", "must differ from the current one").into(),
        );
    }
    let now = super::now();
    login_throttle::check(state, &user.email, now).await?;
    if !password::verify(current.to_owned(), user.password_hash.clone()).await? {
        login_throttle::failed(state, &user.email, now).await?;
        return Err(ApiError::forbidden("current_password is not your password")
            .with_field("current_password", "does not match")
            .into());
    }
    let hash = password::hash(new.to_owned()).await?;
    members::set_password_global(&state.db, &user.id, &hash)
        .await
        .map_err(db_error("set password"))?;
    if let Err(e) = state.bus.publish(&format!("user:{}", user.id)).await {
        tracing::warn!(error = %e, "could not announce password change");
    }
    tracing::info!(user_id = %user.id, "password changed");
    let user = members::user_global(&state.db, &user.id)
        .await
        .map_err(db_error("find user"))?
        .ok_or_else(|| ApiError::unauthenticated("your account no longer exists"))?;
    let workspace_id = principal.workspace()?;
    let membership = members::membership(&state.db, workspace_id, &user.id)
        .await
        .map_err(db_error("find membership"))?
        .ok_or_else(|| ApiError::forbidden("you are not a member of this workspace"))?;
    let workspace = members::workspace(&state.db, workspace_id)
        .await
        .map_err(db_error("find workspace"))?
        .ok_or_else(|| ApiError::not_found("workspace", workspace_id))?;
    mint(state, user, workspace, Role::parse(&membership.role)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(email(" Ann@Acme.TEST ").unwrap(), "ann@acme.test");
        for bad in [
            "",
            "ann",
            "ann@",
            "@acme.test",
            "ann@acme",
            "a b@acme.test",
            "a@b@c.d",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }
}
