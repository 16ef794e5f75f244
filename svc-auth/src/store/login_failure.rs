//! Failed logins per email: how many in a row, and until when the next attempt waits.

use super::entities::login_failures::{self, Model};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, sea_query::OnConflict};

/// The counter of `email` (global: logins come before any workspace).
pub async fn get_global(db: &impl ConnectionTrait, email: &str) -> Result<Option<Model>, DbErr> {
    login_failures::Entity::find_by_id(email.to_owned())
        .one(db)
        .await
}

/// Stores the counter of `email`.
pub async fn put_global(
    db: &impl ConnectionTrait,
    email: &str,
    failures: i32,
    locked_until: Option<DateTime<Utc>>,
) -> Result<(), DbErr> {
    let row = login_failures::ActiveModel {
        email: Set(email.to_owned()),
        failures: Set(failures),
        locked_until: Set(locked_until),
        updated_at: Set(crate::domain::now()),
    };
    login_failures::Entity::insert(row)
        .on_conflict(
            OnConflict::column(login_failures::Column::Email)
                .update_columns([
                    login_failures::Column::Failures,
                    login_failures::Column::LockedUntil,
                    login_failures::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec(db)
        .await?;
    Ok(())
}

/// Forgets the counter of `email` after a successful login.
pub async fn clear_global(db: &impl ConnectionTrait, email: &str) -> Result<(), DbErr> {
    login_failures::Entity::delete_by_id(email.to_owned())
        .exec(db)
        .await?;
    Ok(())
}
