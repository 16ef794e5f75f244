//! `crm.webhooks.v1.IncomingWebhooksService`: incoming hooks' CRUD, tokens and logs, and the
//! public endpoint they receive on. Thin: maps proto <-> domain and calls the domain.

use super::convert::{string_map, strings_of_struct, ts};
use crate::domain::{
    access::authorize,
    incoming::{
        IncomingState,
        hooks::{self, Hook, HookChanges, NewHook},
        logs, receive, url_of,
    },
};
use crate::store::incoming_logs::IncomingLogRow;
use crm_platform::Principal;
use crm_proto::webhooks::{self as pb, incoming_webhooks_service_server::IncomingWebhooksService};
use tonic::{Request, Response, Status};

/// Implements `IncomingWebhooksService`.
pub struct IncomingApi {
    pub(crate) state: IncomingState,
}

const READ: &str = "webhooks:read";
const WRITE: &str = "webhooks:write";

fn hook(h: Hook) -> pb::IncomingWebhook {
    pb::IncomingWebhook {
        id: h.id,
        workspace_id: h.workspace_id,
        name: h.name,
        description: h.description,
        module: h.module.name().to_owned(),
        action: h.action.name().to_owned(),
        field_mapping: Some(string_map(&h.field_mapping)),
        upsert_key: h.upsert_key,
        status: h.status,
        token_prefix: h.token_prefix,
        verify_signature: h.verify_signature,
        signature_header: h.signature_header,
        created_by: h.created_by,
        created_at: Some(ts(h.created_at)),
        updated_at: Some(ts(h.updated_at)),
        last_received_at: h.last_received_at.map(ts),
    }
}

fn log_entry(l: IncomingLogRow) -> pb::IncomingWebhookLog {
    pb::IncomingWebhookLog {
        id: l.id,
        webhook_id: l.webhook_id,
        status: l.status,
        response_status: l.response_status,
        action: l.action,
        record_id: l.record_id,
        error: l.error,
        payload: l.payload,
        payload_truncated: l.payload_truncated,
        duration_ms: l.duration_ms,
        received_at: Some(ts(l.received_at)),
    }
}

#[tonic::async_trait]
impl IncomingWebhooksService for IncomingApi {
    async fn list_incoming_webhooks(
        &self,
        request: Request<pb::ListIncomingWebhooksRequest>,
    ) -> Result<Response<pb::ListIncomingWebhooksResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?, READ)?;
        let r = request.get_ref();
        let page = hooks::list(
            &self.state.webhooks,
            workspace,
            r.cursor.as_deref(),
            r.limit,
        )
        .await?;
        Ok(Response::new(pb::ListIncomingWebhooksResponse {
            data: page.hooks.into_iter().map(hook).collect(),
            next_cursor: page.next_cursor,
        }))
    }

    async fn get_incoming_webhook(
        &self,
        request: Request<pb::GetIncomingWebhookRequest>,
    ) -> Result<Response<pb::GetIncomingWebhookResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?, READ)?;
        let found = hooks::get(&self.state.webhooks, workspace, &request.get_ref().id).await?;
        Ok(Response::new(pb::GetIncomingWebhookResponse {
            data: Some(hook(found)),
        }))
    }

    async fn create_incoming_webhook(
        &self,
        request: Request<pb::CreateIncomingWebhookRequest>,
    ) -> Result<Response<pb::CreateIncomingWebhookResponse>, Status> {
        let principal = Principal::of(&request)?;
        let workspace = authorize(principal, WRITE)?.to_owned();
        let created_by = principal.subject.clone();
        let r = request.into_inner();
        let new = NewHook {
            name: r.name,
            description: r.description,
            module: r.module,
            module_id: r.module_id,
            action: r.action,
            field_mapping: r
                .field_mapping
                .map(|m| strings_of_struct("field_mapping", m))
                .transpose()?,
            upsert_key: r.upsert_key,
            verify_signature: r.verify_signature,
            signature_header: r.signature_header,
            status: r.status,
        };
        let created = hooks::create(&self.state.webhooks, &workspace, &created_by, new).await?;
        Ok(Response::new(pb::CreateIncomingWebhookResponse {
            data: Some(hook(created.hook)),
            url: url_of(&created.token),
            token: created.token,
            signing_secret: created.signing_secret,
        }))
    }

    async fn update_incoming_webhook(
        &self,
        request: Request<pb::UpdateIncomingWebhookRequest>,
    ) -> Result<Response<pb::UpdateIncomingWebhookResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?, WRITE)?.to_owned();
        let r = request.into_inner();
        let changes = HookChanges {
            name: r.name,
            description: r.description,
            action: r.action,
            field_mapping: r
                .field_mapping
                .map(|m| strings_of_struct("field_mapping", m))
                .transpose()?,
            upsert_key: r.upsert_key,
            verify_signature: r.verify_signature,
            signature_header: r.signature_header,
            status: r.status,
        };
        let (updated, signing_secret) =
            hooks::update(&self.state.webhooks, &workspace, &r.id, changes).await?;
        Ok(Response::new(pb::UpdateIncomingWebhookResponse {
            data: Some(hook(updated)),
            signing_secret,
        }))
    }

    async fn delete_incoming_webhook(
        &self,
        request: Request<pb::DeleteIncomingWebhookRequest>,
    ) -> Result<Response<pb::DeleteIncomingWebhookResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?, WRITE)?;
        let name = hooks::delete(&self.state.webhooks, workspace, &request.get_ref().id).await?;
        Ok(Response::new(pb::DeleteIncomingWebhookResponse {
            message: format!("Incoming webhook '{name}' deleted successfully"),
        }))
    }

    async fn regenerate_incoming_webhook_token(
        &self,
        request: Request<pb::RegenerateIncomingWebhookTokenRequest>,
    ) -> Result<Response<pb::RegenerateIncomingWebhookTokenResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?, WRITE)?;
        let (regenerated, token) =
            hooks::regenerate_token(&self.state.webhooks, workspace, &request.get_ref().id).await?;
        Ok(Response::new(pb::RegenerateIncomingWebhookTokenResponse {
            data: Some(hook(regenerated)),
            url: url_of(&token),
            token,
        }))
    }

    async fn list_incoming_webhook_logs(
        &self,
        request: Request<pb::ListIncomingWebhookLogsRequest>,
    ) -> Result<Response<pb::ListIncomingWebhookLogsResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?, READ)?;
        let r = request.get_ref();
        let page = logs::list(
            &self.state.webhooks,
            workspace,
            &r.id,
            r.cursor.as_deref(),
            r.limit,
        )
        .await?;
        Ok(Response::new(pb::ListIncomingWebhookLogsResponse {
            data: page.logs.into_iter().map(log_entry).collect(),
            next_cursor: page.next_cursor,
        }))
    }

    async fn receive_incoming_webhook(
        &self,
        request: Request<pb::ReceiveIncomingWebhookRequest>,
    ) -> Result<Response<pb::ReceiveIncomingWebhookResponse>, Status> {
        // Public: the token is the credential, whoever the (anonymous) principal is.
        Principal::of(&request)?;
        let r = request.into_inner();
        let headers = r
            .headers
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        let received = receive::receive(&self.state, &r.token, &r.body, &headers).await?;
        let label = received.module.label();
        Ok(Response::new(pb::ReceiveIncomingWebhookResponse {
            action: received.written.name().to_owned(),
            module: received.module.name().to_owned(),
            message: format!("{label} {}", received.written.name()),
            record_id: received.record_id,
        }))
    }
}
