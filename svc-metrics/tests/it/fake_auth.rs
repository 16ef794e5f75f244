//! A stand-in for svc-auth's key and client lookups: it knows the keys and clients a test
//! registers, answers them to callers of their workspace only (404 otherwise, as svc-auth
//! does), and remembers the principal each lookup came with.

use crm_platform::{Principal, principal::PrincipalVerifier};
use crm_proto::auth::{
    self as pb, api_client_service_server::ApiClientService,
    api_client_service_server::ApiClientServiceServer, api_key_service_server::ApiKeyService,
    api_key_service_server::ApiKeyServiceServer,
};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

#[derive(Clone, Default)]
pub struct FakeAuth {
    /// Key or client id -> its workspace.
    owners: Arc<Mutex<HashMap<String, String>>>,
    /// The principals lookups came with.
    pub seen: Arc<Mutex<Vec<Principal>>>,
}

impl FakeAuth {
    /// Registers key or client `id` of `workspace`.
    pub fn add(&self, id: &str, workspace: &str) {
        self.owners
            .lock()
            .unwrap()
            .insert(id.to_owned(), workspace.to_owned());
    }

    fn visible<T>(&self, request: &Request<T>, id: &str) -> Result<String, Status> {
        let principal = Principal::of(request)?.clone();
        let workspace = self.owners.lock().unwrap().get(id).cloned();
        let caller = principal.workspace_id.clone();
        self.seen.lock().unwrap().push(principal);
        match workspace {
            Some(w) if w == caller => Ok(w),
            _ => Err(Status::not_found(format!("API key '{id}' not found"))),
        }
    }

    /// Serves on `listener` until `shutdown`.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        verifier: PrincipalVerifier,
        shutdown: CancellationToken,
    ) {
        tonic::transport::Server::builder()
            .add_service(ApiKeyServiceServer::with_interceptor(
                self.clone(),
                verifier.interceptor(),
            ))
            .add_service(ApiClientServiceServer::with_interceptor(
                self,
                verifier.interceptor(),
            ))
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener),
                shutdown.cancelled_owned(),
            )
            .await
            .unwrap();
    }
}

fn unused<T>() -> Result<Response<T>, Status> {
    Err(Status::unimplemented("not in the fake"))
}

#[tonic::async_trait]
impl ApiKeyService for FakeAuth {
    async fn get_api_key(
        &self,
        request: Request<pb::GetApiKeyRequest>,
    ) -> Result<Response<pb::GetApiKeyResponse>, Status> {
        let id = request.get_ref().id.clone();
        let workspace_id = self.visible(&request, &id)?;
        Ok(Response::new(pb::GetApiKeyResponse {
            data: Some(pb::ApiKey {
                id,
                workspace_id,
                ..Default::default()
            }),
        }))
    }

    async fn list_api_keys(
        &self,
        _: Request<pb::ListApiKeysRequest>,
    ) -> Result<Response<pb::ListApiKeysResponse>, Status> {
        unused()
    }

    async fn create_api_key(
        &self,
        _: Request<pb::CreateApiKeyRequest>,
    ) -> Result<Response<pb::CreateApiKeyResponse>, Status> {
        unused()
    }

    async fn update_api_key(
        &self,
        _: Request<pb::UpdateApiKeyRequest>,
    ) -> Result<Response<pb::UpdateApiKeyResponse>, Status> {
        unused()
    }

    async fn regenerate_api_key(
        &self,
        _: Request<pb::RegenerateApiKeyRequest>,
    ) -> Result<Response<pb::RegenerateApiKeyResponse>, Status> {
        unused()
    }

    async fn revoke_api_key(
        &self,
        _: Request<pb::RevokeApiKeyRequest>,
    ) -> Result<Response<pb::RevokeApiKeyResponse>, Status> {
        unused()
    }

    async fn delete_api_key(
        &self,
        _: Request<pb::DeleteApiKeyRequest>,
    ) -> Result<Response<pb::DeleteApiKeyResponse>, Status> {
        unused()
    }
}

#[tonic::async_trait]
impl ApiClientService for FakeAuth {
    async fn get_api_client(
        &self,
        request: Request<pb::GetApiClientRequest>,
    ) -> Result<Response<pb::ApiClientResponse>, Status> {
        let id = request.get_ref().id.clone();
        self.visible(&request, &id)?;
        Ok(Response::new(pb::ApiClientResponse {
            data: Some(pb::ApiClient {
                id,
                ..Default::default()
            }),
        }))
    }

    async fn create_api_client(
        &self,
        _: Request<pb::CreateApiClientRequest>,
    ) -> Result<Response<pb::ApiClientResponse>, Status> {
        unused()
    }

    async fn list_api_clients(
        &self,
        _: Request<pb::ListApiClientsRequest>,
    ) -> Result<Response<pb::ListApiClientsResponse>, Status> {
        unused()
    }

    async fn update_api_client(
        &self,
        _: Request<pb::UpdateApiClientRequest>,
    ) -> Result<Response<pb::ApiClientResponse>, Status> {
        unused()
    }

    async fn delete_api_client(
        &self,
        _: Request<pb::DeleteApiClientRequest>,
    ) -> Result<Response<pb::DeleteApiClientResponse>, Status> {
        unused()
    }

    async fn get_api_client_dashboard(
        &self,
        _: Request<pb::GetApiClientRequest>,
    ) -> Result<Response<pb::ApiClientDashboard>, Status> {
        unused()
    }

    async fn list_api_client_keys(
        &self,
        _: Request<pb::ListApiClientKeysRequest>,
    ) -> Result<Response<pb::ListApiKeysResponse>, Status> {
        unused()
    }

    async fn revoke_api_client_key(
        &self,
        _: Request<pb::RevokeApiClientKeyRequest>,
    ) -> Result<Response<pb::RevokeApiKeyResponse>, Status> {
        unused()
    }

    async fn list_rate_limit_tiers(
        &self,
        _: Request<pb::ListRateLimitTiersRequest>,
    ) -> Result<Response<pb::ListRateLimitTiersResponse>, Status> {
        unused()
    }
}
