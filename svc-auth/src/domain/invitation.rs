//! Invitations: an owner or admin invites an email with a role; the invitee accepts with the
//! token, which is shown once, stored as its SHA-256, works once and expires in 7 days.

use super::{
    AuthState, audit, password,
    role::{self, Role},
    session::{self, Session},
    workspace_access::{self, announce_member},
};
use crate::store::{
    db_error,
    entities::{invitations, users},
    invitation as store, members,
};
use chrono::{DateTime, Duration, Utc};
use crm_platform::db::is_unique_violation;
use crm_platform::{Principal, PrincipalKind, error::ApiError};
use rand::RngCore;
use sea_orm::ActiveValue::Set;
use serde_json::json;
use tonic::Status;

/// How long an invitation can be accepted.
pub const VALID_FOR_DAYS: i64 = 7;
/// What every accept token starts with, so a leaked one is recognizable.
const TOKEN_PREFIX: &str = "inv_";

/// Where an invitation stands.
pub fn status(invitation: &invitations::Model, now: DateTime<Utc>) -> &'static str {
    if invitation.accepted_at.is_some() {
        "accepted"
    } else if invitation.revoked_at.is_some() {
        "revoked"
    } else if invitation.expires_at <= now {
        "expired"
    } else {
        "pending"
    }
}

/// A new invitation and its token, which exists only here and in the answer.
pub struct Created {
    /// The stored invitation.
    pub invitation: invitations::Model,
    /// The accept token.
    pub token: String,
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

fn token_hash(token: &str) -> String {
    crm_platform::api_key::hash(token.trim())
}

/// Invites `email` as `role` to the workspace.
pub async fn create(
    state: &AuthState,
    principal: &Principal,
    workspace_id: &str,
    email: &str,
    role: &str,
) -> Result<Created, Status> {
    let caller = workspace_access::member_of(state, principal, workspace_id).await?;
    let email = session::email(email)?;
    let invited = Role::parse_field(role, "role")?;
    role::check_invite(caller.role, invited)?;
    if let Some(user) = members::user_by_email_global(&state.db, &email)
        .await
        .map_err(db_error("find user"))?
        && members::membership(&state.db, &caller.workspace_id, &user.id)
            .await
            .map_err(db_error("find membership"))?
            .is_some()
    {
        return Err(
            ApiError::already_exists("this email is already a member of the workspace")
                .with_field("email", "already a member")
                .into(),
        );
    }
    let now = super::now();
    if store::pending_for_email(&state.db, &caller.workspace_id, &email, now)
        .await
        .map_err(db_error("find invitation"))?
        .is_some()
    {
        return Err(ApiError::already_exists(
            "this email has a pending invitation; revoke it first to send another",
        )
        .with_field("email", "already invited")
        .into());
    }
    let token = new_token();
    let txn = audit::begin(state).await?;
    let invitation = store::insert(
        &txn,
        invitations::ActiveModel {
            id: Set(uuid::Uuid::new_v4().to_string()),
            workspace_id: Set(caller.workspace_id.clone()),
            email: Set(email.clone()),
            role: Set(invited.as_str().to_owned()),
            token_hash: Set(token_hash(&token)),
            invited_by: Set(caller.user_id.clone()),
            created_at: Set(now),
            expires_at: Set(now + Duration::days(VALID_FOR_DAYS)),
            accepted_at: Set(None),
            accepted_by: Set(None),
            revoked_at: Set(None),
        },
    )
    .await
    .map_err(db_error("insert invitation"))?;
    audit::commit_with(
        txn,
        principal,
        &caller.workspace_id,
        audit::Change {
            action: "invitation.created",
            target_type: "invitation",
            target_id: &invitation.id,
            details: json!({"email": email, "role": invited.as_str()}),
        },
    )
    .await?;
    Ok(Created { invitation, token })
}

/// A workspace's invitations, newest first; owners and admins. `status` filters.
pub async fn list(
    state: &AuthState,
    principal: &Principal,
    workspace_id: &str,
    status_filter: &str,
) -> Result<Vec<invitations::Model>, Status> {
    let caller = workspace_access::member_of(state, principal, workspace_id).await?;
    caller.require_admin("see invitations")?;
    let wanted = status_filter.trim();
    if !matches!(wanted, "" | "pending" | "accepted" | "revoked" | "expired") {
        return Err(ApiError::invalid_field(
            "status",
            "must be one of pending, accepted, revoked, expired",
        )
        .into());
    }
    let now = super::now();
    Ok(store::list(&state.db, &caller.workspace_id)
        .await
        .map_err(db_error("list invitations"))?
        .into_iter()
        .filter(|i| wanted.is_empty() || status(i, now) == wanted)
        .collect())
}

/// Revokes a pending invitation; owners and admins.
pub async fn revoke(
    state: &AuthState,
    principal: &Principal,
    workspace_id: &str,
    id: &str,
) -> Result<invitations::Model, Status> {
    let caller = workspace_access::member_of(state, principal, workspace_id).await?;
    caller.require_admin("revoke invitations")?;
    let id = uuid::Uuid::parse_str(id.trim())
        .map_err(|_| ApiError::invalid_field("id", "must be an invitation id (UUID)"))?
        .to_string();
    let not_found = || Status::from(ApiError::not_found("invitation", &id));
    let invitation = store::get(&state.db, &caller.workspace_id, &id)
        .await
        .map_err(db_error("find invitation"))?
        .ok_or_else(not_found)?;
    let now = super::now();
    let txn = audit::begin(state).await?;
    if !store::mark_revoked(&txn, &caller.workspace_id, &id, now)
        .await
        .map_err(db_error("revoke invitation"))?
    {
        return Err(ApiError::new(
            tonic::Code::FailedPrecondition,
            "INVITATION_CLOSED",
            format!("the invitation is already {}", status(&invitation, now)),
        )
        .with_meta(crm_platform::error::HTTP_STATUS_KEY, "409")
        .into());
    }
    audit::commit_with(
        txn,
        principal,
        &caller.workspace_id,
        audit::Change {
            action: "invitation.revoked",
            target_type: "invitation",
            target_id: &id,
            details: json!({"email": invitation.email}),
        },
    )
    .await?;
    store::get(&state.db, &caller.workspace_id, &id)
        .await
        .map_err(db_error("find invitation"))?
        .ok_or_else(not_found)
}

/// What the invitee sends with the token.
pub struct Acceptance {
    /// The token from the invitation.
    pub token: String,
    /// Name for a new account.
    pub name: String,
    /// Password for a new account, or the existing account's when not logged in.
    pub password: String,
}

/// The invitee joins. Logged in: as themselves (their email must be the invited one).
/// Otherwise the invited email's account, proven by its password, or a new account made
/// with `name` and `password`. Answers a session in the workspace joined.
pub async fn accept(
    state: &AuthState,
    principal: &Principal,
    input: Acceptance,
) -> Result<Session, Status> {
    let token = input.token.trim();
    let unknown = || {
        Status::from(ApiError::not_found("invitation", "(token)").with_field(
            "token",
            "no open invitation has this token; it may have been used or revoked",
        ))
    };
    if !token.starts_with(TOKEN_PREFIX) {
        return Err(unknown());
    }
    let invitation = store::find_by_token_hash_global(&state.db, &token_hash(token))
        .await
        .map_err(db_error("find invitation"))?
        .ok_or_else(unknown)?;
    let now = super::now();
    match status(&invitation, now) {
        "pending" => {}
        "expired" => {
            return Err(ApiError::new(
                tonic::Code::FailedPrecondition,
                "INVITATION_EXPIRED",
                "this invitation has expired; ask for a new one",
            )
            .with_meta(crm_platform::error::HTTP_STATUS_KEY, "410")
            .into());
        }
        _ => return Err(unknown()),
    }
    let invitee = invitee(state, principal, &invitation, &input).await?;
    let role = Role::parse(&invitation.role)?;
    let txn = audit::begin(state).await?;
    let user = match invitee {
        Invitee::Existing(user) => user,
        Invitee::New { name, hash } => {
            match members::insert_user(&txn, &invitation.email, &name, &hash).await {
                Ok(user) => user,
                Err(e) if is_unique_violation(&e) => {
                    return Err(ApiError::already_exists(
                        "an account with this email was just created; send its password",
                    )
                    .into());
                }
                Err(e) => return Err(db_error("insert user")(e)),
            }
        }
    };
    if !store::mark_accepted(&txn, &invitation.id, &user.id, now)
        .await
        .map_err(db_error("accept invitation"))?
    {
        return Err(unknown());
    }
    match members::insert_membership(&txn, &invitation.workspace_id, &user.id, role.as_str()).await
    {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => {
            return Err(
                ApiError::already_exists("you are already a member of this workspace").into(),
            );
        }
        Err(e) => return Err(db_error("insert membership")(e)),
    }
    let mut actor = principal.clone();
    actor.subject = user.id.clone();
    audit::commit_with(
        txn,
        &actor,
        &invitation.workspace_id,
        audit::Change {
            action: "invitation.accepted",
            target_type: "member",
            target_id: &user.id,
            details: json!({"invitation_id": invitation.id, "email": invitation.email, "role": role.as_str()}),
        },
    )
    .await?;
    announce_member(state, &invitation.workspace_id, &user.id).await;
    let workspace = members::workspace(&state.db, &invitation.workspace_id)
        .await
        .map_err(db_error("find workspace"))?
        .ok_or_else(unknown)?;
    tracing::info!(workspace_id = %workspace.id, user_id = %user.id, "invitation accepted");
    session::mint(state, user, workspace, role)
}

enum Invitee {
    Existing(users::Model),
    New { name: String, hash: String },
}

async fn invitee(
    state: &AuthState,
    principal: &Principal,
    invitation: &invitations::Model,
    input: &Acceptance,
) -> Result<Invitee, Status> {
    if principal.kind == PrincipalKind::User {
        let user = members::user_global(&state.db, &principal.subject)
            .await
            .map_err(db_error("find user"))?
            .ok_or_else(|| ApiError::unauthenticated("your account no longer exists"))?;
        if !user.email.eq_ignore_ascii_case(&invitation.email) {
            return Err(ApiError::forbidden(
                "this invitation is for another email; log in as that user or ask for an invitation to yours",
            )
            .into());
        }
        return Ok(Invitee::Existing(user));
    }
    if input.password.is_empty() {
        return Err(ApiError::invalid_field(
            "password",
            "is required: log in and send your token, or send name and password to create the account",
        )
        .into());
    }
    let existing = members::user_by_email_global(&state.db, &invitation.email)
        .await
        .map_err(db_error("find user"))?;
    if existing.is_some() {
        let user = session::check_credentials(state, &invitation.email, &input.password).await?;
        return Ok(Invitee::Existing(user));
    }
    let name = session::person_name(&input.name)?;
    password::check_new(&input.password, &invitation.email, "password")?;
    Ok(Invitee::New {
        name,
        hash: password::hash(input.password.clone()).await?,
    })
}
