//! Which of our users a token names. Our own tokens carry our user id. An external issuer's
//! token (Supabase-style) carries its own subject: it is linked to a user by the stored
//! (issuer, subject) pair, or, the first time, by email, and only when the issuer says it
//! verified that email; an unverified email never links a stranger's token to an account.

use super::AuthState;
use crate::store::{db_error, entities::users, members};
use tonic::Status;

/// What a token says about its holder.
pub struct TokenIdentity<'a> {
    /// `iss` of an external token; empty for ours.
    pub issuer: &'a str,
    /// `sub`.
    pub subject: &'a str,
    /// `email`.
    pub email: &'a str,
    /// The issuer's `email_verified`.
    pub email_verified: bool,
}

/// The user the token stands for, linking an external subject on first sight by verified
/// email.
pub async fn resolve(
    state: &AuthState,
    token: TokenIdentity<'_>,
) -> Result<Option<users::Model>, Status> {
    if token.issuer.is_empty() {
        return members::user_global(&state.db, token.subject)
            .await
            .map_err(db_error("find user"));
    }
    if let Some(user_id) = members::external_identity_global(&state.db, token.issuer, token.subject)
        .await
        .map_err(db_error("find external identity"))?
    {
        return members::user_global(&state.db, &user_id)
            .await
            .map_err(db_error("find user"));
    }
    let email = token.email.trim().to_lowercase();
    if !token.email_verified || email.is_empty() {
        return Ok(None);
    }
    let Some(user) = members::user_by_email_global(&state.db, &email)
        .await
        .map_err(db_error("find user"))?
    else {
        return Ok(None);
    };
    members::link_external_identity_global(&state.db, token.issuer, token.subject, &user.id)
        .await
        .map_err(db_error("link external identity"))?;
    tracing::info!(user_id = %user.id, issuer = token.issuer, "external identity linked by verified email");
    Ok(Some(user))
}
