//! Partner API clients, as svc-auth knows them: a per-client subscription (seed 003's
//! `/api/v1/api-clients/{clientId}/webhooks`) must name a client of the caller's workspace,
//! and without a URL of its own it sends to the client's `webhookUrl`.

use crm_platform::{Principal, error::ApiError, principal::PrincipalVerifier};
use crm_proto::auth::{
    GetClientWebhookRequest, key_validation_service_client::KeyValidationServiceClient,
};
use tonic::{Code, Request, Status, transport::Channel};

/// svc-auth's client directory, reached over gRPC as our own service.
pub struct ClientDirectory {
    channel: Channel,
    signer: PrincipalVerifier,
}

impl ClientDirectory {
    /// A directory at `auth_url`, connected on first use.
    pub fn new(auth_url: &str, signer: PrincipalVerifier) -> Result<Self, tonic::transport::Error> {
        let channel = crm_platform::server::peer_channel(auth_url)?;
        Ok(Self { channel, signer })
    }

    /// The client's `webhookUrl` (empty when it has none); a 404 naming the client when the
    /// workspace has no such client.
    pub async fn webhook_url(&self, workspace_id: &str, client_id: &str) -> Result<String, Status> {
        if uuid::Uuid::parse_str(client_id).is_err() {
            return Err(ApiError::invalid_field("client_id", "must be a UUID").into());
        }
        let mut request = Request::new(GetClientWebhookRequest {
            workspace_id: workspace_id.to_owned(),
            api_client_id: client_id.to_owned(),
        });
        self.signer
            .sign_into(&Principal::service("svc-webhooks"), request.metadata_mut())?;
        match KeyValidationServiceClient::new(self.channel.clone())
            .get_client_webhook(request)
            .await
        {
            Ok(answer) => Ok(answer.into_inner().url),
            Err(status) if status.code() == Code::NotFound => {
                Err(ApiError::not_found("API client", client_id).into())
            }
            Err(status) => {
                tracing::warn!(error = %status, "svc-auth did not answer a client lookup");
                Err(Status::unavailable(
                    "the API client directory is unavailable; retry shortly",
                ))
            }
        }
    }
}
