//! The message queue: one row per SMS or email job, claimed by the workers with a lease; the
//! per-workspace, per-channel send counters that pace the workers of every process;
//! sequences and their executions (whose messages are jobs of the queue); and the outbox of
//! the `message.*` and `sequence.*` events.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MessageJobs::Table)
                    .if_not_exists()
                    // UUID v7: ids sort by creation, which the list's cursor relies on.
                    .col(string(MessageJobs::Id).primary_key())
                    .col(string(MessageJobs::WorkspaceId))
                    // sms | email
                    .col(string(MessageJobs::Channel))
                    .col(string(MessageJobs::ContactId))
                    // The phone number or email address.
                    .col(string(MessageJobs::Recipient))
                    .col(text_null(MessageJobs::Subject))
                    .col(text(MessageJobs::Body))
                    // The caller's metadata, as JSON text.
                    .col(text(MessageJobs::Metadata))
                    // pending | sending | sent | failed | cancelled | skipped
                    .col(string(MessageJobs::Status))
                    .col(integer(MessageJobs::Attempts))
                    // When the caller asked for it to go out; with sent_at, the lag.
                    .col(timestamp_with_time_zone(MessageJobs::DueAt))
                    // When a worker may take it next (due_at, then retries).
                    .col(timestamp_with_time_zone(MessageJobs::NextAttemptAt))
                    // A worker's lease while `sending`: past it, another worker takes the job.
                    .col(timestamp_with_time_zone_null(MessageJobs::LockedUntil))
                    // Which claim holds the lease, so a worker whose lease ran out cannot
                    // overwrite the outcome of the worker that took the job over.
                    .col(string_null(MessageJobs::ClaimToken))
                    .col(string_null(MessageJobs::ProviderMessageId))
                    .col(text_null(MessageJobs::Reason))
                    .col(timestamp_with_time_zone(MessageJobs::CreatedAt))
                    .col(timestamp_with_time_zone_null(MessageJobs::SentAt))
                    // The sequence execution the job belongs to, and its place in it.
                    .col(string_null(MessageJobs::ExecutionId))
                    .col(integer_null(MessageJobs::Step))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_message_jobs_due")
                    .table(MessageJobs::Table)
                    .col(MessageJobs::Status)
                    .col(MessageJobs::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_message_jobs_workspace")
                    .table(MessageJobs::Table)
                    .col(MessageJobs::WorkspaceId)
                    .col(MessageJobs::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MessageSendWindows::Table)
                    .if_not_exists()
                    .col(string(MessageSendWindows::WorkspaceId))
                    .col(string(MessageSendWindows::Channel))
                    // Unix second the count is for.
                    .col(big_integer(MessageSendWindows::Second))
                    .col(integer(MessageSendWindows::Sent))
                    .primary_key(
                        Index::create()
                            .col(MessageSendWindows::WorkspaceId)
                            .col(MessageSendWindows::Channel)
                            .col(MessageSendWindows::Second),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_message_jobs_execution")
                    .table(MessageJobs::Table)
                    .col(MessageJobs::ExecutionId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Sequences::Table)
                    .if_not_exists()
                    .col(string(Sequences::Id).primary_key())
                    .col(string(Sequences::WorkspaceId))
                    .col(string(Sequences::Name))
                    // active | inactive
                    .col(string(Sequences::Status))
                    // The messages, as a JSON array of {text, timeValue, timeUnit, subflow}.
                    .col(text(Sequences::Messages))
                    // {start, end} local times when messages may go out; null: any time.
                    .col(text_null(Sequences::SendWindow))
                    .col(timestamp_with_time_zone(Sequences::CreatedAt))
                    .col(timestamp_with_time_zone(Sequences::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_sequences_workspace")
                    .table(Sequences::Table)
                    .col(Sequences::WorkspaceId)
                    .col(Sequences::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SequenceExecutions::Table)
                    .if_not_exists()
                    .col(string(SequenceExecutions::Id).primary_key())
                    .col(string(SequenceExecutions::WorkspaceId))
                    .col(string(SequenceExecutions::SequenceId))
                    .col(string(SequenceExecutions::SequenceName))
                    .col(string(SequenceExecutions::ContactId))
                    // active | completed | cancelled
                    .col(string(SequenceExecutions::Status))
                    // The IANA zone its days and weeks are counted in.
                    .col(string(SequenceExecutions::Timezone))
                    // The sequence's messages when it was applied (later edits leave it be).
                    .col(text(SequenceExecutions::Messages))
                    .col(timestamp_with_time_zone(SequenceExecutions::StartedAt))
                    .col(timestamp_with_time_zone_null(
                        SequenceExecutions::FinishedAt,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_sequence_executions_contact")
                    .table(SequenceExecutions::Table)
                    .col(SequenceExecutions::WorkspaceId)
                    .col(SequenceExecutions::ContactId)
                    .col(SequenceExecutions::Status)
                    .to_owned(),
            )
            .await?;
        // A contact runs a sequence once at a time: concurrent applies cannot both start it.
        // (A partial index, written the same on SQLite and Postgres.)
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX IF NOT EXISTS idx_sequence_executions_active \
                 ON sequence_executions (workspace_id, sequence_id, contact_id) \
                 WHERE status = 'active'",
            )
            .await?;
        crm_platform::outbox::create_table(manager).await
    }
}

#[derive(DeriveIden)]
pub enum MessageJobs {
    Table,
    Id,
    WorkspaceId,
    Channel,
    ContactId,
    Recipient,
    Subject,
    Body,
    Metadata,
    Status,
    Attempts,
    DueAt,
    NextAttemptAt,
    LockedUntil,
    ClaimToken,
    ProviderMessageId,
    Reason,
    CreatedAt,
    SentAt,
    ExecutionId,
    Step,
}

#[derive(DeriveIden)]
pub enum Sequences {
    Table,
    Id,
    WorkspaceId,
    Name,
    Status,
    Messages,
    SendWindow,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
pub enum SequenceExecutions {
    Table,
    Id,
    WorkspaceId,
    SequenceId,
    SequenceName,
    ContactId,
    Status,
    Timezone,
    Messages,
    StartedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
pub enum MessageSendWindows {
    Table,
    WorkspaceId,
    Channel,
    Second,
    Sent,
}
