//! Pipelines, stages, opportunities (with history and activities), companies, contacts, tags,
//! the tags carried by records, and the outbox.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

async fn index(
    manager: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden + 'static,
    cols: &[&'static str],
) -> Result<(), DbErr> {
    let mut index = Index::create();
    index.name(name).table(table);
    for col in cols {
        index.col(Alias::new(*col));
    }
    manager.create_index(index.to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Pipelines::Table)
                    .if_not_exists()
                    .col(string(Pipelines::Id).primary_key())
                    .col(string(Pipelines::WorkspaceId))
                    .col(string(Pipelines::Name))
                    .col(text_null(Pipelines::Description))
                    .col(boolean(Pipelines::IsDefault))
                    .col(boolean(Pipelines::IsActive))
                    .col(string(Pipelines::CreatedBy))
                    .col(timestamp_with_time_zone(Pipelines::CreatedAt))
                    .col(timestamp_with_time_zone(Pipelines::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Pipelines::DeletedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_pipelines_workspace",
            Pipelines::Table,
            &["workspace_id", "created_at"],
        )
        .await?;
        // One default pipeline per workspace, enforced by the database.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX IF NOT EXISTS uq_pipelines_default ON pipelines (workspace_id) \
                 WHERE is_default AND deleted_at IS NULL",
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Stages::Table)
                    .if_not_exists()
                    .col(string(Stages::Id).primary_key())
                    .col(string(Stages::WorkspaceId))
                    .col(string(Stages::PipelineId))
                    .col(string(Stages::Name))
                    .col(text_null(Stages::Description))
                    .col(integer(Stages::Position))
                    .col(string(Stages::Color))
                    .col(integer(Stages::DefaultProbability))
                    .col(boolean(Stages::IsWonStage))
                    .col(boolean(Stages::IsLostStage))
                    .col(string(Stages::CreatedBy))
                    .col(timestamp_with_time_zone(Stages::CreatedAt))
                    .col(timestamp_with_time_zone(Stages::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Stages::Table, Stages::PipelineId)
                            .to(Pipelines::Table, Pipelines::Id),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_stages_pipeline",
            Stages::Table,
            &["pipeline_id", "position"],
        )
        .await?;
        index(
            manager,
            "idx_stages_workspace",
            Stages::Table,
            &["workspace_id"],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Companies::Table)
                    .if_not_exists()
                    .col(string(Companies::Id).primary_key())
                    .col(string(Companies::WorkspaceId))
                    .col(string(Companies::Name))
                    .col(string_null(Companies::Industry))
                    .col(string_null(Companies::Website))
                    .col(timestamp_with_time_zone(Companies::CreatedAt))
                    .col(timestamp_with_time_zone(Companies::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_companies_workspace",
            Companies::Table,
            &["workspace_id", "name"],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Contacts::Table)
                    .if_not_exists()
                    .col(string(Contacts::Id).primary_key())
                    .col(string(Contacts::WorkspaceId))
                    .col(string(Contacts::Firstname))
                    .col(string(Contacts::Lastname))
                    .col(string(Contacts::PhoneNumber))
                    .col(string_null(Contacts::Email))
                    .col(string_null(Contacts::LeadStatus))
                    .col(string_null(Contacts::LeadSource))
                    .col(string_null(Contacts::Product))
                    .col(string_null(Contacts::Address))
                    .col(string_null(Contacts::City))
                    .col(string_null(Contacts::State))
                    .col(string_null(Contacts::Zip))
                    .col(text_null(Contacts::Notes))
                    .col(string_null(Contacts::Priority))
                    .col(string_null(Contacts::OptInThrough))
                    .col(string_null(Contacts::Timezone))
                    .col(date_null(Contacts::FollowUpDate))
                    .col(string_null(Contacts::WebhookName))
                    .col(string_null(Contacts::CompanyId))
                    .col(timestamp_with_time_zone(Contacts::CreatedAt))
                    .col(timestamp_with_time_zone(Contacts::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Contacts::DeletedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_contacts_workspace",
            Contacts::Table,
            &["workspace_id", "created_at"],
        )
        .await?;
        index(
            manager,
            "idx_contacts_status",
            Contacts::Table,
            &["workspace_id", "lead_status"],
        )
        .await?;
        index(
            manager,
            "idx_contacts_email",
            Contacts::Table,
            &["workspace_id", "email"],
        )
        .await?;
        // A phone number (E.164) belongs to one live contact per workspace.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX IF NOT EXISTS uq_contacts_phone ON contacts (workspace_id, phone_number) \
                 WHERE deleted_at IS NULL",
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Opportunities::Table)
                    .if_not_exists()
                    .col(string(Opportunities::Id).primary_key())
                    .col(string(Opportunities::WorkspaceId))
                    .col(string(Opportunities::PipelineId))
                    .col(string(Opportunities::StageId))
                    .col(string(Opportunities::Title))
                    .col(text_null(Opportunities::Description))
                    .col(string_null(Opportunities::ContactId))
                    .col(string_null(Opportunities::CompanyId))
                    // Minor units (cents): money is never summed as floating point.
                    .col(big_integer(Opportunities::AmountCents))
                    .col(string(Opportunities::Currency))
                    .col(integer(Opportunities::Probability))
                    .col(string_null(Opportunities::Priority))
                    .col(date_null(Opportunities::ExpectedCloseDate))
                    .col(text_null(Opportunities::Notes))
                    .col(string_null(Opportunities::Source))
                    .col(string(Opportunities::CreatedBy))
                    .col(string_null(Opportunities::AssignedTo))
                    .col(boolean(Opportunities::IsClosed))
                    .col(boolean_null(Opportunities::IsWon))
                    .col(timestamp_with_time_zone_null(Opportunities::ClosedAt))
                    .col(timestamp_with_time_zone(Opportunities::CreatedAt))
                    .col(timestamp_with_time_zone(Opportunities::UpdatedAt))
                    // No foreign key to stages: a deleted stage may still be named by
                    // archived opportunities, which nobody reads through it.
                    .col(timestamp_with_time_zone_null(Opportunities::ArchivedAt))
                    .to_owned(),
            )
            .await?;
        // Partial indexes over live rows only (archived ones are never listed or counted):
        // the list's default order, the same within a stage, and (stage, amount) so the
        // list's count and the per-stage figures are answered from the index alone.
        for sql in [
            "CREATE INDEX IF NOT EXISTS idx_opportunities_recent ON opportunities \
             (workspace_id, created_at, id) WHERE archived_at IS NULL",
            "CREATE INDEX IF NOT EXISTS idx_opportunities_stage_recent ON opportunities \
             (workspace_id, stage_id, created_at, id) WHERE archived_at IS NULL",
            "CREATE INDEX IF NOT EXISTS idx_opportunities_stage_amount ON opportunities \
             (workspace_id, stage_id, amount_cents) WHERE archived_at IS NULL",
            "CREATE INDEX IF NOT EXISTS idx_opportunities_pipeline ON opportunities \
             (workspace_id, pipeline_id, created_at) WHERE archived_at IS NULL",
            "CREATE INDEX IF NOT EXISTS idx_opportunities_contact ON opportunities \
             (workspace_id, contact_id) WHERE archived_at IS NULL",
        ] {
            manager.get_connection().execute_unprepared(sql).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(OpportunityHistory::Table)
                    .if_not_exists()
                    .col(string(OpportunityHistory::Id).primary_key())
                    .col(string(OpportunityHistory::WorkspaceId))
                    .col(string(OpportunityHistory::OpportunityId))
                    .col(string(OpportunityHistory::FieldChanged))
                    .col(text_null(OpportunityHistory::OldValue))
                    .col(text_null(OpportunityHistory::NewValue))
                    .col(string(OpportunityHistory::ChangedBy))
                    .col(timestamp_with_time_zone(OpportunityHistory::ChangedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_history_opportunity",
            OpportunityHistory::Table,
            &["opportunity_id", "changed_at"],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(OpportunityActivities::Table)
                    .if_not_exists()
                    .col(string(OpportunityActivities::Id).primary_key())
                    .col(string(OpportunityActivities::WorkspaceId))
                    .col(string(OpportunityActivities::OpportunityId))
                    .col(string(OpportunityActivities::Kind))
                    .col(text(OpportunityActivities::Content))
                    .col(string(OpportunityActivities::CreatedBy))
                    .col(timestamp_with_time_zone(OpportunityActivities::CreatedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_activities_opportunity",
            OpportunityActivities::Table,
            &["opportunity_id", "created_at"],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Tags::Table)
                    .if_not_exists()
                    .col(string(Tags::Id).primary_key())
                    .col(string(Tags::WorkspaceId))
                    .col(string(Tags::Name))
                    // Lowercased name: tag names are unique per workspace regardless of case.
                    .col(string(Tags::NameKey))
                    .col(string(Tags::Color))
                    .col(text_null(Tags::Description))
                    .col(timestamp_with_time_zone(Tags::CreatedAt))
                    .col(timestamp_with_time_zone(Tags::UpdatedAt))
                    .index(
                        Index::create()
                            .name("uq_tags_name")
                            .unique()
                            .col(Tags::WorkspaceId)
                            .col(Tags::NameKey),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RecordTags::Table)
                    .if_not_exists()
                    .col(string(RecordTags::WorkspaceId))
                    // "contact" or "opportunity".
                    .col(string(RecordTags::RecordType))
                    .col(string(RecordTags::RecordId))
                    .col(string(RecordTags::Tag))
                    .col(string(RecordTags::TagKey))
                    .col(integer(RecordTags::Position))
                    .primary_key(
                        Index::create()
                            .col(RecordTags::RecordType)
                            .col(RecordTags::RecordId)
                            .col(RecordTags::TagKey),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_record_tags_tag",
            RecordTags::Table,
            &["workspace_id", "tag_key", "record_type"],
        )
        .await?;

        crm_platform::outbox::create_table(manager).await
    }
}

#[derive(DeriveIden)]
pub enum Pipelines {
    Table,
    Id,
    WorkspaceId,
    Name,
    Description,
    IsDefault,
    IsActive,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
}

#[derive(DeriveIden)]
pub enum Stages {
    Table,
    Id,
    WorkspaceId,
    PipelineId,
    Name,
    Description,
    Position,
    Color,
    DefaultProbability,
    IsWonStage,
    IsLostStage,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
pub enum Companies {
    Table,
    Id,
    WorkspaceId,
    Name,
    Industry,
    Website,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
pub enum Contacts {
    Table,
    Id,
    WorkspaceId,
    Firstname,
    Lastname,
    PhoneNumber,
    Email,
    LeadStatus,
    LeadSource,
    Product,
    Address,
    City,
    State,
    Zip,
    Notes,
    Priority,
    OptInThrough,
    Timezone,
    FollowUpDate,
    WebhookName,
    CompanyId,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
}

#[derive(DeriveIden)]
pub enum Opportunities {
    Table,
    Id,
    WorkspaceId,
    PipelineId,
    StageId,
    Title,
    Description,
    ContactId,
    CompanyId,
    AmountCents,
    Currency,
    Probability,
    Priority,
    ExpectedCloseDate,
    Notes,
    Source,
    CreatedBy,
    AssignedTo,
    IsClosed,
    IsWon,
    ClosedAt,
    CreatedAt,
    UpdatedAt,
    ArchivedAt,
}

#[derive(DeriveIden)]
pub enum OpportunityHistory {
    Table,
    Id,
    WorkspaceId,
    OpportunityId,
    FieldChanged,
    OldValue,
    NewValue,
    ChangedBy,
    ChangedAt,
}

#[derive(DeriveIden)]
pub enum OpportunityActivities {
    Table,
    Id,
    WorkspaceId,
    OpportunityId,
    Kind,
    Content,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
pub enum Tags {
    Table,
    Id,
    WorkspaceId,
    Name,
    NameKey,
    Color,
    Description,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
pub enum RecordTags {
    Table,
    WorkspaceId,
    RecordType,
    RecordId,
    Tag,
    TagKey,
    Position,
}
