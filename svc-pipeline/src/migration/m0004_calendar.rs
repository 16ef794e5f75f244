//! The calendar (seed 004 "Calendar Booking API"): `calendar_events` (slots admins open),
//! `appointments` (bookings made in them) and `calendar_settings` (one row per workspace:
//! whether the public may book, and the row every booking locks first so bookings of a
//! workspace run one at a time and never overfill a slot or overlap a contact's bookings).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CalendarEvents::Table)
                    .if_not_exists()
                    .col(string(CalendarEvents::Id).primary_key())
                    .col(string(CalendarEvents::WorkspaceId))
                    .col(string_null(CalendarEvents::AdminId))
                    .col(string_null(CalendarEvents::ContactId))
                    .col(string(CalendarEvents::Title))
                    .col(text_null(CalendarEvents::Description))
                    .col(timestamp_with_time_zone(CalendarEvents::StartTime))
                    .col(timestamp_with_time_zone(CalendarEvents::EndTime))
                    .col(string(CalendarEvents::Status))
                    .col(string_null(CalendarEvents::Location))
                    .col(text_null(CalendarEvents::Notes))
                    .col(string(CalendarEvents::BookingType))
                    .col(integer(CalendarEvents::MaxBookings).default(1))
                    .col(timestamp_with_time_zone(CalendarEvents::CreatedAt))
                    .col(timestamp_with_time_zone(CalendarEvents::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Appointments::Table)
                    .if_not_exists()
                    .col(string(Appointments::Id).primary_key())
                    .col(string(Appointments::WorkspaceId))
                    .col(string_null(Appointments::EventId))
                    .col(string(Appointments::ContactId))
                    .col(string_null(Appointments::AdminId))
                    .col(string(Appointments::Title))
                    .col(text_null(Appointments::Description))
                    .col(timestamp_with_time_zone(Appointments::StartTime))
                    .col(timestamp_with_time_zone(Appointments::EndTime))
                    .col(string_null(Appointments::Location))
                    .col(text_null(Appointments::Notes))
                    .col(string_null(Appointments::ProductInterest))
                    // booked or cancelled.
                    .col(string(Appointments::Status))
                    // SHA-256 of the token the booking's answer carried; the token is not kept.
                    .col(string(Appointments::CancelTokenHash))
                    .col(timestamp_with_time_zone(Appointments::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CalendarSettings::Table)
                    .if_not_exists()
                    .col(string(CalendarSettings::WorkspaceId).primary_key())
                    .col(boolean(CalendarSettings::PublicBooking).default(false))
                    .col(timestamp_with_time_zone(CalendarSettings::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        for sql in [
            "CREATE INDEX IF NOT EXISTS idx_calendar_events_start ON calendar_events \
             (workspace_id, start_time)",
            "CREATE INDEX IF NOT EXISTS idx_appointments_event ON appointments \
             (workspace_id, event_id, status)",
            "CREATE INDEX IF NOT EXISTS idx_appointments_contact ON appointments \
             (workspace_id, contact_id, status)",
            "CREATE INDEX IF NOT EXISTS idx_appointments_start ON appointments \
             (workspace_id, start_time)",
        ] {
            manager.get_connection().execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            CalendarSettings::Table.into_iden(),
            Appointments::Table.into_iden(),
            CalendarEvents::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum CalendarEvents {
    Table,
    Id,
    WorkspaceId,
    AdminId,
    ContactId,
    Title,
    Description,
    StartTime,
    EndTime,
    Status,
    Location,
    Notes,
    BookingType,
    MaxBookings,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Appointments {
    Table,
    Id,
    WorkspaceId,
    EventId,
    ContactId,
    AdminId,
    Title,
    Description,
    StartTime,
    EndTime,
    Location,
    Notes,
    ProductInterest,
    Status,
    CancelTokenHash,
    CreatedAt,
}

#[derive(DeriveIden)]
enum CalendarSettings {
    Table,
    WorkspaceId,
    PublicBooking,
    UpdatedAt,
}
