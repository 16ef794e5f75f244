//! `crm.messaging.v1.ProviderCallbackService`: delivery reports posted by providers. Public
//! (the gateway admits them with an anonymous principal); the provider's signature is the
//! authentication, checked in the domain.

use crate::domain::{MessagingState, callbacks};
use crm_proto::messaging::{self as pb, provider_callback_service_server::ProviderCallbackService};
use tonic::{Request, Response, Status};

/// Implements `ProviderCallbackService`.
pub struct CallbackApi {
    pub(crate) state: MessagingState,
}

#[tonic::async_trait]
impl ProviderCallbackService for CallbackApi {
    async fn receive_twilio_status(
        &self,
        request: Request<pb::ProviderCallbackRequest>,
    ) -> Result<Response<pb::ProviderCallbackResponse>, Status> {
        let r = request.into_inner();
        callbacks::twilio_status(&self.state, &r.body, &r.headers).await?;
        Ok(Response::new(pb::ProviderCallbackResponse {}))
    }
}
