//! Creating workspaces and their owners: on first start, and for operators and tests.

use super::session::hash_password;
use crate::store::workspace as store;
use rand::{Rng, distr::Alphanumeric};
use sea_orm::DatabaseConnection;
use tonic::Status;

/// Credentials of the owner created on first start, shown once.
pub struct BootstrapOwner {
    /// Owner email.
    pub email: String,
    /// One-time password.
    pub password: String,
    /// The default workspace.
    pub workspace_id: String,
}

/// On an empty database, creates the default workspace and its owner with a random password.
/// Returns the credentials only that one time; later starts return `None`.
pub async fn bootstrap_if_empty(
    db: &DatabaseConnection,
    owner_email: &str,
) -> Result<Option<BootstrapOwner>, Status> {
    if store::count_users_global(db).await? > 0 {
        return Ok(None);
    }
    let password: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect();
    let (workspace, _) =
        create_workspace(db, "Default Workspace", owner_email, "Owner", &password).await?;
    Ok(Some(BootstrapOwner {
        email: owner_email.to_owned(),
        password,
        workspace_id: workspace,
    }))
}

/// Creates a workspace owned by `email` (created with `password` if new). Returns the
/// workspace id and the user id.
pub async fn create_workspace(
    db: &DatabaseConnection,
    name: &str,
    email: &str,
    user_name: &str,
    password: &str,
) -> Result<(String, String), Status> {
    let hash = hash_password(password.to_owned()).await?;
    let (ws, user) = store::create_workspace_with_member(
        db,
        name,
        &email.trim().to_ascii_lowercase(),
        user_name,
        &hash,
        "owner",
    )
    .await?;
    Ok((ws.id, user.id))
}

/// Creates a user with `role` in an existing workspace. Returns the user id.
pub async fn add_user(
    db: &DatabaseConnection,
    workspace_id: &str,
    email: &str,
    password: &str,
    role: super::role::Role,
) -> Result<String, Status> {
    let email = email.trim().to_ascii_lowercase();
    let user = match store::find_user_by_email_global(db, &email).await? {
        Some(u) => u.id,
        None => {
            crate::store::members::insert_user(
                db,
                &email,
                &email,
                &hash_password(password.to_owned()).await?,
            )
            .await
            .map_err(crate::store::db_error("insert user"))?
            .id
        }
    };
    store::add_member(db, workspace_id, &user, role.as_str()).await?;
    Ok(user)
}
