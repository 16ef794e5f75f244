//! svc-messaging as the `send_sms`, `send_email` and `apply_sequence` actions reach it: over
//! gRPC, AS THE CALLER. The caller's principal is signed again (fresh expiry) and sent on, so
//! svc-messaging applies its own rules to the caller: a key running these actions needs
//! `messages:write` (or `sequences:write`) besides `actions:execute`, and a missing scope
//! fails the action with svc-messaging's 403 naming it. Acting as a service instead would let
//! `actions:execute` alone send messages, widening what a key was granted.

use super::config::{blame, failed, field};
use crm_platform::{
    Principal,
    error::ApiError,
    principal::{PRINCIPAL_TTL_SECS, PrincipalVerifier},
};
use crm_proto::messaging::{
    self as pb, messaging_service_client::MessagingServiceClient,
    sequence_service_client::SequenceServiceClient,
};
use tonic::{Code, Request, Status, transport::Channel};

/// A client of svc-messaging, connected on first use.
pub struct Messaging {
    channel: Channel,
    signer: PrincipalVerifier,
}

impl Messaging {
    /// svc-messaging at `url` (`CRM_MESSAGING_URL`). Lazy: svc-messaging itself calls this
    /// service for contacts, so either may start first.
    pub fn new(url: &str, signer: PrincipalVerifier) -> Result<Self, tonic::transport::Error> {
        let channel = crm_platform::server::peer_channel(url)?;
        Ok(Self { channel, signer })
    }

    fn request<T>(&self, caller: &Principal, message: T) -> Result<Request<T>, ApiError> {
        let mut principal = caller.clone();
        // The gateway's signature may be nearly spent by now; this hop gets its own minute.
        principal.expires_at = chrono::Utc::now().timestamp() + PRINCIPAL_TTL_SECS;
        let mut request = Request::new(message);
        self.signer
            .sign_into(&principal, request.metadata_mut())
            .map_err(|_| ApiError::internal())?;
        Ok(request)
    }

    /// Queues an SMS; `{jobId, message}` as svc-messaging answers.
    pub async fn schedule_sms(
        &self,
        caller: &Principal,
        message: pb::ScheduleSmsRequest,
    ) -> Result<pb::ScheduleMessageResponse, ApiError> {
        let request = self.request(caller, message)?;
        MessagingServiceClient::new(self.channel.clone())
            .schedule_sms(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(refusal("phoneNumber"))
    }

    /// Queues an email; `{jobId, message}` as svc-messaging answers.
    pub async fn schedule_email(
        &self,
        caller: &Principal,
        message: pb::ScheduleEmailRequest,
    ) -> Result<pb::ScheduleMessageResponse, ApiError> {
        let request = self.request(caller, message)?;
        MessagingServiceClient::new(self.channel.clone())
            .schedule_email(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(refusal("to"))
    }

    /// Starts a sequence for the contacts; per-contact refusals come back in `failed`.
    pub async fn apply_sequence(
        &self,
        caller: &Principal,
        message: pb::ApplySequenceRequest,
    ) -> Result<pb::ApplySequenceResponse, ApiError> {
        let request = self.request(caller, message)?;
        SequenceServiceClient::new(self.channel.clone())
            .apply_sequence(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(refusal("sequence_id"))
    }
}

/// The configuration key a svc-messaging request field comes from (its fields are the
/// configuration's names, but for the sequence's `id`).
fn configuration_key(messaging_field: &str) -> Option<&'static str> {
    Some(match messaging_field {
        "phoneNumber" => "phoneNumber",
        "message" => "message",
        "to" => "to",
        "subject" => "subject",
        "html" => "html",
        "delay" => "delay",
        "scheduledTime" => "scheduledTime",
        "id" => "sequence_id",
        _ => return None,
    })
}

/// svc-messaging's refusal as the action's failure: the caller's own standing (a missing
/// scope) travels unchanged as a 403; bad input names the configuration field it came from
/// (`fallback` when svc-messaging names none of them); svc-messaging away is a 503.
fn refusal(fallback: &'static str) -> impl Fn(Status) -> ApiError {
    move |status| match status.code() {
        Code::PermissionDenied => {
            ApiError::new(Code::PermissionDenied, "FORBIDDEN", status.message())
        }
        Code::Unauthenticated => {
            ApiError::new(Code::Unauthenticated, "UNAUTHENTICATED", status.message())
        }
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown => {
            tracing::warn!(error = %status, "svc-messaging did not answer an action");
            ApiError::new(
                Code::Unavailable,
                "SERVICE_UNAVAILABLE",
                "messaging is unavailable right now; retry shortly",
            )
        }
        Code::InvalidArgument => {
            // svc-messaging's messages are "<field>: <description>".
            let named = status
                .message()
                .split_once(": ")
                .and_then(|(name, description)| Some((configuration_key(name)?, description)));
            match named {
                Some((key, description)) => failed(key, description),
                None => failed(fallback, status.message()),
            }
        }
        _ => blame(fallback)(status),
    }
}

/// Kept with each job so its origin shows in `GET /api/messages/{jobId}`.
pub fn source_metadata() -> prost_types::Struct {
    let source = prost_types::Value {
        kind: Some(prost_types::value::Kind::StringValue("action".to_owned())),
    };
    prost_types::Struct {
        fields: [("source".to_owned(), source)].into_iter().collect(),
    }
}

/// The answer when no `messaging_url` is configured.
pub fn not_configured() -> ApiError {
    ApiError::new(
        Code::Unavailable,
        "MESSAGING_NOT_CONFIGURED",
        "messaging is not configured on this server (svc-pipeline has no messaging_url)",
    )
}

/// `configuration.delay`: whole milliseconds, 0 up to a year, or absent.
pub fn delay(config: &super::config::Configuration) -> Result<Option<i64>, ApiError> {
    const YEAR_MS: i64 = 365 * 24 * 3600 * 1000;
    match config.get("delay") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => match v.as_i64() {
            Some(ms) if (0..=YEAR_MS).contains(&ms) => Ok(Some(ms)),
            _ => Err(ApiError::invalid_field(
                &field("delay"),
                format!("must be whole milliseconds from 0 to {YEAR_MS}"),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refusals_name_the_configuration_field() {
        let e =
            refusal("to")(Status::invalid_argument("scheduledTime: not a date-time")).into_status();
        assert!(
            e.message().starts_with("configuration.scheduledTime:"),
            "{}",
            e.message()
        );
        let e = refusal("to")(Status::invalid_argument("odd")).into_status();
        assert!(
            e.message().starts_with("configuration.to:"),
            "{}",
            e.message()
        );
        let e = refusal("to")(Status::permission_denied("needs 'messages:write'")).into_status();
        assert_eq!(e.code(), Code::PermissionDenied);
        assert!(e.message().contains("messages:write"));
        let e = refusal("to")(Status::unavailable("down")).into_status();
        assert_eq!(e.code(), Code::Unavailable);
    }

    #[test]
    fn delays_are_whole_bounded_milliseconds() {
        let c = |v| match json!({ "delay": v }) {
            serde_json::Value::Object(m) => super::super::config::Configuration(m),
            _ => unreachable!(),
        };
        assert_eq!(delay(&c(json!(5))).unwrap(), Some(5));
        assert_eq!(delay(&c(json!(null))).unwrap(), None);
        assert!(delay(&c(json!(-1))).is_err());
        assert!(delay(&c(json!(1.5))).is_err());
        assert!(delay(&c(json!("5"))).is_err());
    }
}
