//! `crm.pipeline.v1.CalendarService`.

use crate::domain::{
    PipelineState,
    calendar::{self, BookingRequest, EventChanges, ListQuery, rfc3339},
    paging,
};
use crate::store::calendar::{appointments::Model as Booking, calendar_events::Model as Event};
use crm_platform::{Principal, workspaces::WorkspaceProfiles};
use crm_proto::pipeline::{self as pb, calendar_service_server::CalendarService};
use tonic::{Request, Response, Status};

/// Implements `CalendarService`.
pub struct CalendarApi {
    pub(crate) state: PipelineState,
    /// Workspace timezones (svc-auth), for the days of availability and the `date` filter.
    pub(crate) profiles: WorkspaceProfiles,
}

const READ: &str = "calendar:read";
const WRITE: &str = "calendar:write";

impl CalendarApi {
    async fn timezone(&self, workspace_id: &str) -> Result<chrono_tz::Tz, Status> {
        let profile = self.profiles.get(workspace_id).await?;
        Ok(calendar::timezone(&profile.timezone))
    }
}

fn event(e: Event) -> pb::CalendarEvent {
    pb::CalendarEvent {
        id: e.id,
        contact_id: e.contact_id,
        admin_id: e.admin_id,
        workspace_id: e.workspace_id,
        event_title: e.title,
        event_description: e.description,
        start_time: rfc3339(e.start_time),
        end_time: rfc3339(e.end_time),
        status: e.status,
        location: e.location,
        notes: e.notes,
        booking_type: e.booking_type,
        max_bookings: e.max_bookings,
        created_at: rfc3339(e.created_at),
        updated_at: rfc3339(e.updated_at),
    }
}

fn booking(b: Booking, cancel_token: Option<String>) -> pb::Booking {
    let minutes = (b.end_time - b.start_time).num_minutes();
    pb::Booking {
        created_by: Some(b.contact_id.clone()),
        duration_minutes: i32::try_from(minutes).unwrap_or(i32::MAX),
        appointment_date: rfc3339(b.start_time),
        start_time: rfc3339(b.start_time),
        end_time: rfc3339(b.end_time),
        created_at: rfc3339(b.created_at),
        id: b.id,
        contact_id: b.contact_id,
        workspace_id: b.workspace_id,
        title: b.title,
        description: b.description,
        location: b.location,
        event_id: b.event_id,
        status: b.status,
        notes: b.notes,
        product_interest: b.product_interest,
        cancel_token,
    }
}

#[tonic::async_trait]
impl CalendarService for CalendarApi {
    async fn get_availability(
        &self,
        request: Request<pb::GetAvailabilityRequest>,
    ) -> Result<Response<pb::GetAvailabilityResponse>, Status> {
        let r = request.into_inner();
        // The timezone is asked only of a workspace open to the public.
        let (workspace, day) =
            calendar::availability_request(&self.state, &r.workspace_id, &r.date).await?;
        let tz = self.timezone(&workspace).await?;
        let (date, slots) =
            calendar::availability(&self.state, &workspace, tz, day, r.admin_id.as_deref()).await?;
        let slots: Vec<pb::Slot> = slots
            .into_iter()
            .map(|s| pb::Slot {
                is_booked: s.booked >= i64::from(s.event.max_bookings),
                booked_count: i32::try_from(s.booked).unwrap_or(i32::MAX),
                id: s.event.id,
                start_time: rfc3339(s.event.start_time),
                end_time: rfc3339(s.event.end_time),
                admin_id: s.event.admin_id,
                title: s.event.title,
                description: s.event.description,
                location: s.event.location,
                booking_type: s.event.booking_type,
                max_bookings: s.event.max_bookings,
            })
            .collect();
        Ok(Response::new(pb::GetAvailabilityResponse {
            count: i32::try_from(slots.len()).unwrap_or(i32::MAX),
            slots,
            date,
        }))
    }

    async fn create_booking(
        &self,
        request: Request<pb::CreateBookingRequest>,
    ) -> Result<Response<pb::CreateBookingResponse>, Status> {
        let r = request.into_inner();
        let (created, token) = calendar::book(
            &self.state,
            BookingRequest {
                workspace_id: r.workspace_id,
                contact_id: r.contact_id,
                contact_name: r.contact_name,
                contact_email: r.contact_email,
                contact_phone: r.contact_phone,
                event_id: r.event_id,
                admin_id: r.admin_id,
                event_title: r.event_title,
                event_description: r.event_description,
                start_time: r.start_time,
                end_time: r.end_time,
                location: r.location,
                notes: r.notes,
                product_interest: r.product_interest,
            },
        )
        .await?;
        Ok(Response::new(pb::CreateBookingResponse {
            booking: Some(booking(created, Some(token))),
            message: "Booking created successfully".into(),
        }))
    }

    async fn cancel_booking_with_token(
        &self,
        request: Request<pb::CancelBookingWithTokenRequest>,
    ) -> Result<Response<pb::CancelBookingResponse>, Status> {
        let r = request.into_inner();
        let cancelled = calendar::cancel_with_token(&self.state, &r.id, &r.cancel_token).await?;
        Ok(Response::new(pb::CancelBookingResponse {
            booking: Some(booking(cancelled, None)),
            message: "Booking cancelled".into(),
        }))
    }

    async fn upsert_event(
        &self,
        request: Request<pb::UpsertEventRequest>,
    ) -> Result<Response<pb::UpsertEventResponse>, Status> {
        let principal = Principal::of(&request)?;
        let workspace =
            calendar::admin(principal, WRITE, request.get_ref().workspace_id.as_deref())?
                .to_owned();
        let caller = principal.subject.clone();
        let r = request.into_inner();
        let saved = calendar::upsert_event(
            &self.state,
            &workspace,
            &caller,
            EventChanges {
                id: r.id,
                contact_id: r.contact_id,
                admin_id: r.admin_id,
                event_title: r.event_title,
                event_description: r.event_description,
                start_time: r.start_time,
                end_time: r.end_time,
                status: r.status,
                location: r.location,
                notes: r.notes,
                booking_type: r.booking_type,
                max_bookings: r.max_bookings,
            },
        )
        .await?;
        Ok(Response::new(pb::UpsertEventResponse {
            appointment: Some(event(saved)),
        }))
    }

    async fn delete_event(
        &self,
        request: Request<pb::DeleteEventRequest>,
    ) -> Result<Response<pb::DeleteEventResponse>, Status> {
        let workspace = calendar::admin(Principal::of(&request)?, WRITE, None)?;
        calendar::delete_event(&self.state, workspace, &request.get_ref().id).await?;
        Ok(Response::new(pb::DeleteEventResponse {
            message: "Appointment deleted".into(),
        }))
    }

    async fn list_bookings(
        &self,
        request: Request<pb::ListBookingsRequest>,
    ) -> Result<Response<pb::ListBookingsResponse>, Status> {
        let workspace = calendar::admin(
            Principal::of(&request)?,
            READ,
            request.get_ref().workspace_id.as_deref(),
        )?
        .to_owned();
        let r = request.into_inner();
        let window = paging::window(r.page, r.limit, r.offset, 100, 500)?;
        let tz = if r.date.as_deref().is_some_and(|d| !d.trim().is_empty()) {
            self.timezone(&workspace).await?
        } else {
            chrono_tz::UTC
        };
        let (found, total) = calendar::list(
            &self.state,
            &workspace,
            tz,
            ListQuery {
                contact_id: r.contact_id,
                admin_id: r.admin_id,
                date: r.date,
                status: r.status,
            },
            window,
        )
        .await?;
        let pagination = pb::PagePagination {
            page: window.page as i32,
            limit: window.limit as i32,
            total: total as i64,
            total_pages: paging::total_pages(total, window.limit) as i32,
            has_next: window.offset + (found.len() as u64) < total,
            has_prev: window.offset > 0,
            offset: window.offset as i32,
        };
        Ok(Response::new(pb::ListBookingsResponse {
            bookings: found.into_iter().map(|b| booking(b, None)).collect(),
            pagination: Some(pagination),
        }))
    }

    async fn cancel_booking(
        &self,
        request: Request<pb::CancelBookingRequest>,
    ) -> Result<Response<pb::CancelBookingResponse>, Status> {
        let workspace = calendar::admin(Principal::of(&request)?, WRITE, None)?;
        let cancelled =
            calendar::cancel_as_admin(&self.state, workspace, &request.get_ref().id).await?;
        Ok(Response::new(pb::CancelBookingResponse {
            booking: Some(booking(cancelled, None)),
            message: "Booking cancelled".into(),
        }))
    }

    async fn update_calendar_settings(
        &self,
        request: Request<pb::UpdateCalendarSettingsRequest>,
    ) -> Result<Response<pb::UpdateCalendarSettingsResponse>, Status> {
        let workspace = calendar::admin(Principal::of(&request)?, WRITE, None)?;
        let on = request.get_ref().public_booking;
        let at = calendar::set_public_booking(&self.state, workspace, on).await?;
        Ok(Response::new(pb::UpdateCalendarSettingsResponse {
            public_booking: on,
            updated_at: rfc3339(at),
        }))
    }
}
