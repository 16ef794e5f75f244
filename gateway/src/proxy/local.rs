//! The standard gRPC services the gateway answers itself on its port, for anyone, without
//! credentials: health (`grpc.health.v1.Health`) and reflection (`grpc.reflection.v1` and
//! `v1alpha`, listing and describing the public API only), over gRPC and gRPC-web alike.

use super::{health::GatewayHealth, public_api::PublicApi};
use crate::{backends::Backends, transcode::table::RouteTable};
use prost_reflect::DescriptorPool;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic_reflection::server::{Builder, v1, v1alpha};

/// Full names of the services answered here.
const LOCAL_SERVICES: [&str; 3] = [
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// The gateway's own gRPC services.
pub struct LocalServices {
    routes: Routes,
}

/// The local services could not be built.
#[derive(Debug, thiserror::Error)]
pub enum LocalServicesError {
    /// The public descriptors could not be made.
    #[error(transparent)]
    PublicApi(#[from] super::public_api::PublicApiError),
    /// Reflection refused them.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}

impl LocalServices {
    /// Health and reflection for the API `table` routes (built from `pool`); health follows
    /// `backends` until `shutdown` fires.
    pub fn new(
        table: &RouteTable,
        pool: &DescriptorPool,
        backends: &Backends,
        shutdown: CancellationToken,
    ) -> Result<Self, LocalServicesError> {
        let public = PublicApi::new(table, pool)?;
        // Listing names explicitly rather than "every service in the files": only what the
        // gateway really answers for, whatever a descriptor file may bring in one day.
        let reflection = || {
            let mut builder = Builder::configure()
                .register_encoded_file_descriptor_set(&public.descriptor_set)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(
                    tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
                );
            for name in public
                .services
                .keys()
                .map(String::as_str)
                .chain(LOCAL_SERVICES)
            {
                builder = builder.with_service_name(name);
            }
            builder
        };
        let v1: v1::ServerReflectionServer<_> = reflection().build_v1()?;
        let v1alpha: v1alpha::ServerReflectionServer<_> = reflection().build_v1alpha()?;
        let health = GatewayHealth::start(public.services.clone(), backends.clone(), shutdown);
        let routes = Routes::new(health)
            .add_service(v1)
            .add_service(v1alpha)
            .prepare();
        Ok(Self { routes })
    }

    /// Whether the gRPC method at `path` (`/package.Service/Method`) is answered here.
    pub fn serves(&self, path: &str) -> bool {
        path.strip_prefix('/')
            .and_then(|p| p.split_once('/'))
            .is_some_and(|(service, _)| LOCAL_SERVICES.contains(&service))
    }

    /// The services, routed by path.
    pub fn routes(&self) -> Routes {
        self.routes.clone()
    }
}
