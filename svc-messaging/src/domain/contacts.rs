//! The contact check: a job's contact must exist in the caller's workspace, and at send time
//! it must not have opted out of the channel. Contacts live in svc-pipeline, asked over gRPC
//! with a principal signed by the shared service secret.

use crate::error::MessagingError;
use crm_platform::{Principal, PrincipalKind, principal::PrincipalVerifier};
use crm_proto::pipeline::{GetContactRequest, contact_service_client::ContactServiceClient};
use tonic::{Code, transport::Channel};

/// Tags that opt a contact out of a channel (svc-pipeline's contacts have tags, not opt-out
/// fields): an agent or an incoming hook adds `sms:opt-out` after a STOP reply.
pub const SMS_OPT_OUT_TAG: &str = "sms:opt-out";
/// See [`SMS_OPT_OUT_TAG`].
pub const EMAIL_OPT_OUT_TAG: &str = "email:opt-out";

/// What a job needs to know of its contact.
#[derive(Debug, Clone)]
pub struct ContactView {
    pub tags: Vec<String>,
    /// E.164; where a sequence's messages go.
    pub phone_number: String,
    /// IANA zone sequences count days in, when the contact has one.
    pub timezone: Option<String>,
}

impl ContactView {
    /// True when the contact opted out of `channel` ("sms" or "email"), by its tag
    /// (compared without regard to case).
    pub fn opted_out_of(&self, channel: &str) -> bool {
        let tag = match channel {
            "sms" => SMS_OPT_OUT_TAG,
            _ => EMAIL_OPT_OUT_TAG,
        };
        self.tags.iter().any(|t| t.eq_ignore_ascii_case(tag))
    }
}

/// A client of svc-pipeline's contacts.
#[derive(Clone)]
pub struct Contacts {
    client: ContactServiceClient<Channel>,
    signer: PrincipalVerifier,
}

impl Contacts {
    /// A client for svc-pipeline at `url`; connects on first use.
    pub fn new(url: &str, signer: PrincipalVerifier) -> Result<Self, tonic::transport::Error> {
        let channel = crm_platform::server::peer_channel(url)?;
        Ok(Self {
            client: ContactServiceClient::new(channel),
            signer,
        })
    }

    /// The contact `id` as `principal` sees it; `None` when svc-pipeline says it does not
    /// exist (in the principal's workspace).
    pub async fn get(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<Option<ContactView>, MessagingError> {
        let mut request = tonic::Request::new(GetContactRequest { id: id.to_owned() });
        self.signer
            .sign_into(principal, request.metadata_mut())
            .map_err(MessagingError::Contacts)?;
        match self.client.clone().get_contact(request).await {
            Ok(answer) => Ok(answer.into_inner().data.map(|c| ContactView {
                tags: c.tags,
                phone_number: c.phone_number,
                timezone: c.timezone.filter(|t| !t.is_empty()),
            })),
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(MessagingError::Contacts(status)),
        }
    }

    /// The contact as this service sees it in `workspace_id` (for workers: the caller who
    /// queued the job is long gone).
    pub async fn get_as_service(
        &self,
        workspace_id: &str,
        id: &str,
    ) -> Result<Option<ContactView>, MessagingError> {
        let principal = Principal::new(PrincipalKind::Service, workspace_id, "svc-messaging");
        self.get(&principal, id).await
    }
}
