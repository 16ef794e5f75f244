//! Delivery reports from the SMS provider: Twilio posts each status change of a message it
//! accepted (queued, sent, delivered, undelivered, failed, read) to the `StatusCallback` URL
//! svc-messaging gave it, signed with `X-Twilio-Signature`. A report is recorded on the job;
//! `undelivered` or `failed` after a `sent` job turns it `failed` (with Twilio's error code)
//! and publishes `message.failed`. Reports can arrive out of order, so a status never moves
//! back (a late `sent` after `delivered` is ignored).

use super::{MessagingState, events, providers::twilio};
use crate::{
    error::MessagingError,
    store::jobs::{self, FAILED, SENT},
};
use crm_platform::Secret;
use sea_orm::TransactionTrait;
use std::collections::HashMap;

/// What a Twilio callback is checked against: the URL it was sent to (exactly as svc-
/// messaging gave it to Twilio, which signs the URL it called) and the account's token.
#[derive(Clone)]
pub struct TwilioCallbackAuth {
    pub url: String,
    pub auth_token: Secret,
}

/// How far along a report is; a report earlier than the recorded one is stale.
fn rank(status: &str) -> Option<u8> {
    Some(match status {
        "accepted" | "scheduled" | "queued" => 0,
        "sending" => 1,
        "sent" => 2,
        "delivered" | "undelivered" | "failed" => 3,
        "read" => 4,
        _ => return None,
    })
}

/// Records one Twilio status callback (`body` as posted, `headers` with lower-case names).
pub async fn twilio_status(
    state: &MessagingState,
    body: &[u8],
    headers: &HashMap<String, String>,
) -> Result<(), MessagingError> {
    let Some(auth) = &state.twilio_callbacks else {
        return Err(MessagingError::CallbackNotConfigured);
    };
    let params: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let signature = headers
        .get("x-twilio-signature")
        .map(String::as_str)
        .unwrap_or_default();
    if !twilio::verify_signature(auth.auth_token.expose(), &auth.url, &params, signature) {
        return Err(MessagingError::BadSignature);
    }
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let (Some(sid), Some(status)) = (param("MessageSid"), param("MessageStatus")) else {
        return Err(MessagingError::InvalidField {
            field: "MessageStatus",
            message: "a status callback names MessageSid and MessageStatus".into(),
        });
    };
    let Some(new_rank) = rank(status) else {
        return Err(MessagingError::InvalidField {
            field: "MessageStatus",
            message: format!("'{status}' is not a Twilio message status"),
        });
    };
    let error_code = param("ErrorCode").filter(|c| !c.is_empty());
    // Two reports on one message may race: each applies only over the status it read, and
    // the loser reads again (a handful of rounds at most, as a message has few statuses).
    for _ in 0..5 {
        let Some(job) = jobs::find_by_provider_id_across_workspaces(&state.db, sid)
            .await
            .map_err(MessagingError::db("finding the reported message"))?
        else {
            // Not ours (or deleted by retention): acknowledged, so Twilio stops retrying.
            tracing::info!(
                sid,
                "a status callback for a message this service does not know"
            );
            return Ok(());
        };
        let seen = job.delivery_status.clone();
        if seen.as_deref().and_then(rank).is_some_and(|r| r > new_rank) {
            return Ok(());
        }
        let mut updated = job.clone();
        updated.delivery_status = Some(status.to_owned());
        if status == "delivered" {
            updated.delivered_at = Some(chrono::Utc::now());
        }
        let fails = matches!(status, "undelivered" | "failed") && job.status == SENT;
        if fails {
            updated.status = FAILED.to_owned();
            updated.reason = Some(match error_code {
                Some(code) => format!("Twilio reported the message {status} (error {code})"),
                None => format!("Twilio reported the message {status}"),
            });
        }
        let txn = state
            .db
            .begin()
            .await
            .map_err(MessagingError::db("starting a transaction"))?;
        if !jobs::record_delivery(&txn, &updated, seen.as_deref())
            .await
            .map_err(MessagingError::db("recording a delivery report"))?
        {
            continue;
        }
        if fails {
            events::emit(&txn, &updated)
                .await
                .map_err(MessagingError::db("recording the message event"))?;
        }
        txn.commit()
            .await
            .map_err(MessagingError::db("recording a delivery report"))?;
        if fails {
            state.events_committed();
        }
        return Ok(());
    }
    Err(MessagingError::Busy)
}
