//! A workspace's settings as svc-auth keeps them (timezone, default currency), for services
//! that compute with them: sequences and calendar days in the workspace's timezone, metrics
//! trends bucketed by its local months. Asked over svc-auth's internal gRPC as a service
//! principal, and remembered for a minute, since a workspace's timezone changes rarely and
//! a minute's delay after an admin changes it is harmless.

use crate::{Principal, principal::PrincipalVerifier};
use crm_proto::auth::{
    GetWorkspaceProfileRequest, key_validation_service_client::KeyValidationServiceClient,
};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tonic::{Request, Status, transport::Channel};

const REMEMBER_FOR: Duration = Duration::from_secs(60);
/// Bounds the memory a process spends on profiles; past it the cache starts over.
const MAX_REMEMBERED: usize = 10_000;

/// What other services read of a workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceProfile {
    /// IANA timezone name ("UTC" unless an admin set another).
    pub timezone: String,
    /// ISO 4217 code.
    pub default_currency: String,
}

impl Default for WorkspaceProfile {
    fn default() -> Self {
        Self {
            timezone: "UTC".into(),
            default_currency: "USD".into(),
        }
    }
}

/// svc-auth's workspace directory; cheap to clone.
#[derive(Clone)]
pub struct WorkspaceProfiles {
    channel: Option<Channel>,
    signer: PrincipalVerifier,
    caller: String,
    cache: Arc<Mutex<HashMap<String, (Instant, WorkspaceProfile)>>>,
}

impl WorkspaceProfiles {
    /// A directory at `auth_url` (connected on first use), asking as service `caller`. An
    /// empty URL answers the defaults (UTC, USD), for a service run without svc-auth.
    pub fn new(
        auth_url: &str,
        signer: PrincipalVerifier,
        caller: &str,
    ) -> Result<Self, tonic::transport::Error> {
        let channel = if auth_url.is_empty() {
            tracing::warn!(caller, "no auth_url: every workspace is taken to be on UTC");
            None
        } else {
            Some(
                crate::server::peer_endpoint(auth_url)?
                    .timeout(Duration::from_secs(5))
                    .connect_lazy(),
            )
        };
        Ok(Self {
            channel,
            signer,
            caller: caller.to_owned(),
            cache: Arc::default(),
        })
    }

    /// The workspace's profile. Unavailable when svc-auth does not answer, so the caller
    /// fails its request (a retry helps) rather than compute in the wrong timezone.
    pub async fn get(&self, workspace_id: &str) -> Result<WorkspaceProfile, Status> {
        let Some(channel) = &self.channel else {
            return Ok(WorkspaceProfile::default());
        };
        if let Some((at, profile)) = self.lock().get(workspace_id)
            && at.elapsed() < REMEMBER_FOR
        {
            return Ok(profile.clone());
        }
        let mut request = Request::new(GetWorkspaceProfileRequest {
            workspace_id: workspace_id.to_owned(),
        });
        self.signer
            .sign_into(&Principal::service(&self.caller), request.metadata_mut())?;
        let answer = KeyValidationServiceClient::new(channel.clone())
            .get_workspace_profile(request)
            .await
            .map_err(|status| {
                tracing::warn!(error = %status, "svc-auth did not answer a workspace lookup");
                Status::unavailable("workspace settings are unavailable; retry shortly")
            })?
            .into_inner();
        let profile = WorkspaceProfile {
            timezone: answer.timezone,
            default_currency: answer.default_currency,
        };
        let mut cache = self.lock();
        if cache.len() >= MAX_REMEMBERED {
            cache.clear();
        }
        cache.insert(workspace_id.to_owned(), (Instant::now(), profile.clone()));
        Ok(profile)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, WorkspaceProfile)>> {
        // A panic elsewhere while holding the lock leaves a map that is still valid.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}
