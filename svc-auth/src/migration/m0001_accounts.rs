//! Workspaces, users and their memberships; invitations (accept token stored hashed), the
//! audit log, external identities (issuer, subject) linked to users, failed-login counters
//! per email, and when each member was last seen acting in a workspace.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Workspaces::Table)
                    .if_not_exists()
                    .col(string(Workspaces::Id).primary_key())
                    .col(string(Workspaces::Name))
                    .col(timestamp_with_time_zone(Workspaces::CreatedAt))
                    .col(string(Workspaces::Timezone).default("UTC"))
                    .col(string(Workspaces::DefaultCurrency).default("USD"))
                    .col(timestamp_with_time_zone_null(Workspaces::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .if_not_exists()
                    .col(string(Users::Id).primary_key())
                    .col(string(Users::Email).unique_key())
                    .col(string(Users::Name))
                    .col(string(Users::PasswordHash))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    // A password change bumps it; tokens carrying an older one are refused.
                    .col(integer(Users::TokenVersion).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Memberships::Table)
                    .if_not_exists()
                    .col(string(Memberships::WorkspaceId))
                    .col(string(Memberships::UserId))
                    .col(string(Memberships::Role))
                    .col(timestamp_with_time_zone(Memberships::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(Memberships::WorkspaceId)
                            .col(Memberships::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Memberships::Table, Memberships::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Memberships::Table, Memberships::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_memberships_user")
                    .table(Memberships::Table)
                    .col(Memberships::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Invitations::Table)
                    .if_not_exists()
                    .col(string(Invitations::Id).primary_key())
                    .col(string(Invitations::WorkspaceId))
                    .col(string(Invitations::Email))
                    .col(string(Invitations::Role))
                    .col(string(Invitations::TokenHash).unique_key())
                    .col(string(Invitations::InvitedBy))
                    .col(timestamp_with_time_zone(Invitations::CreatedAt))
                    .col(timestamp_with_time_zone(Invitations::ExpiresAt))
                    .col(timestamp_with_time_zone_null(Invitations::AcceptedAt))
                    .col(string_null(Invitations::AcceptedBy))
                    .col(timestamp_with_time_zone_null(Invitations::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Invitations::Table, Invitations::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_invitations_workspace")
                    .table(Invitations::Table)
                    .col(Invitations::WorkspaceId)
                    .col(Invitations::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .if_not_exists()
                    // UUID v7: ordered by creation, so it is also the cursor.
                    .col(string(AuditLog::Id).primary_key())
                    .col(string(AuditLog::WorkspaceId))
                    .col(string(AuditLog::ActorId))
                    .col(string(AuditLog::Action))
                    .col(string(AuditLog::TargetType))
                    .col(string(AuditLog::TargetId))
                    .col(text(AuditLog::Details))
                    .col(string(AuditLog::RequestId))
                    .col(string(AuditLog::SourceIp))
                    .col(timestamp_with_time_zone(AuditLog::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_log_workspace")
                    .table(AuditLog::Table)
                    .col(AuditLog::WorkspaceId)
                    .col(AuditLog::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ExternalIdentities::Table)
                    .if_not_exists()
                    .col(string(ExternalIdentities::Issuer))
                    .col(string(ExternalIdentities::Subject))
                    .col(string(ExternalIdentities::UserId))
                    .col(timestamp_with_time_zone(ExternalIdentities::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(ExternalIdentities::Issuer)
                            .col(ExternalIdentities::Subject),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ExternalIdentities::Table, ExternalIdentities::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LoginFailures::Table)
                    .if_not_exists()
                    // Per email as typed (lower-cased), known or not, so that throttling
                    // says nothing about which emails have accounts.
                    .col(string(LoginFailures::Email).primary_key())
                    .col(integer(LoginFailures::Failures))
                    .col(timestamp_with_time_zone_null(LoginFailures::LockedUntil))
                    .col(timestamp_with_time_zone(LoginFailures::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // Written at most once a minute per member (see `domain::agents`).
        manager
            .create_table(
                Table::create()
                    .table(MemberActivity::Table)
                    .if_not_exists()
                    .col(string(MemberActivity::WorkspaceId))
                    .col(string(MemberActivity::UserId))
                    .col(timestamp_with_time_zone(MemberActivity::LastActiveAt))
                    .primary_key(
                        Index::create()
                            .col(MemberActivity::WorkspaceId)
                            .col(MemberActivity::UserId),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            MemberActivity::Table.into_iden(),
            LoginFailures::Table.into_iden(),
            ExternalIdentities::Table.into_iden(),
            AuditLog::Table.into_iden(),
            Invitations::Table.into_iden(),
            Memberships::Table.into_iden(),
            Users::Table.into_iden(),
            Workspaces::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Workspaces {
    Table,
    Id,
    Name,
    CreatedAt,
    Timezone,
    DefaultCurrency,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    Name,
    PasswordHash,
    CreatedAt,
    TokenVersion,
}

#[derive(DeriveIden)]
enum Memberships {
    Table,
    WorkspaceId,
    UserId,
    Role,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Invitations {
    Table,
    Id,
    WorkspaceId,
    Email,
    Role,
    TokenHash,
    InvitedBy,
    CreatedAt,
    ExpiresAt,
    AcceptedAt,
    AcceptedBy,
    RevokedAt,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    WorkspaceId,
    ActorId,
    Action,
    TargetType,
    TargetId,
    Details,
    RequestId,
    SourceIp,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ExternalIdentities {
    Table,
    Issuer,
    Subject,
    UserId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum LoginFailures {
    Table,
    Email,
    Failures,
    LockedUntil,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum MemberActivity {
    Table,
    WorkspaceId,
    UserId,
    LastActiveAt,
}
