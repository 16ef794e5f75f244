//! Which keys and clients a caller may read usage of, asked of svc-auth as the caller: the
//! caller's principal is signed again onto the call, so svc-auth applies its own rules (and
//! answers its own not-found and permission errors, passed on unchanged).

use crate::error::MetricsError;
use crm_platform::{Principal, principal::PrincipalVerifier};
use crm_proto::auth::{
    GetApiClientRequest, GetApiKeyRequest, api_client_service_client::ApiClientServiceClient,
    api_key_service_client::ApiKeyServiceClient,
};
use tonic::{Code, Status, transport::Channel};

/// svc-auth's keys and clients, as callers see them.
#[derive(Clone)]
pub struct KeyDirectory {
    /// `None`: no svc-auth configured; usage reads answer unavailable.
    channel: Option<Channel>,
    signer: PrincipalVerifier,
}

/// A key the caller may see.
#[derive(Clone, Debug)]
pub struct VisibleKey {
    pub id: String,
    pub workspace_id: String,
}

impl KeyDirectory {
    /// A directory at `auth_url` (connected on first use); empty: none.
    pub fn new(auth_url: &str, signer: PrincipalVerifier) -> Result<Self, tonic::transport::Error> {
        let channel = if auth_url.is_empty() {
            None
        } else {
            Some(crm_platform::server::peer_channel(auth_url)?)
        };
        Ok(Self { channel, signer })
    }

    fn request<T>(
        &self,
        principal: &Principal,
        message: T,
    ) -> Result<(Channel, tonic::Request<T>), MetricsError> {
        let channel = self.channel.clone().ok_or_else(|| {
            MetricsError::Auth(Status::new(
                Code::Unavailable,
                "usage is unavailable: svc-metrics has no auth_url (CRM_AUTH_URL) to check keys with",
            ))
        })?;
        let mut request = tonic::Request::new(message);
        self.signer
            .sign_into(principal, request.metadata_mut())
            .map_err(MetricsError::Auth)?;
        Ok((channel, request))
    }

    /// The key `id` as `principal` sees it (`ApiKeyService.GetApiKey`).
    pub async fn key(&self, principal: &Principal, id: &str) -> Result<VisibleKey, MetricsError> {
        let (channel, request) = self.request(principal, GetApiKeyRequest { id: id.to_owned() })?;
        let key = ApiKeyServiceClient::new(channel)
            .get_api_key(request)
            .await
            .map_err(MetricsError::Auth)?
            .into_inner()
            .data
            .ok_or_else(|| MetricsError::Auth(Status::internal("svc-auth answered no key")))?;
        Ok(VisibleKey {
            id: key.id,
            workspace_id: key.workspace_id,
        })
    }

    /// The id of partner client `id` as `principal` sees it (`ApiClientService.GetApiClient`).
    pub async fn client(&self, principal: &Principal, id: &str) -> Result<String, MetricsError> {
        let (channel, request) =
            self.request(principal, GetApiClientRequest { id: id.to_owned() })?;
        let client = ApiClientServiceClient::new(channel)
            .get_api_client(request)
            .await
            .map_err(MetricsError::Auth)?
            .into_inner()
            .data
            .ok_or_else(|| MetricsError::Auth(Status::internal("svc-auth answered no client")))?;
        Ok(client.id)
    }
}
