//! Generated code for every CRM service and the encoded descriptor set that describes them.
//!
//! The descriptor set keeps the custom options (`google.api.http`, `crm.options.v1.auth`) so
//! the gateway can build its REST routes and authorization table from it at start-up.

// Generated code: empty services generate a match with only a wildcard arm.
#![allow(
    clippy::large_enum_variant,
    clippy::doc_lazy_continuation,
    clippy::match_single_binding
)]

/// Encoded `FileDescriptorSet` of all CRM protos and their imports, options included.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/crm_descriptor.bin"));

/// `google.api` annotations, kept only so the generated code compiles.
pub mod google {
    /// HTTP rule types.
    pub mod api {
        include!(concat!(env!("OUT_DIR"), "/google.api.rs"));
    }
}

/// CRM packages, one per service.
pub mod crm {
    /// Method options shared by every service.
    pub mod options {
        /// Version 1.
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/crm.options.v1.rs"));
        }
    }
    /// svc-auth.
    pub mod auth {
        /// Version 1.
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/crm.auth.v1.rs"));
        }
    }
    /// svc-pipeline.
    pub mod pipeline {
        /// Version 1.
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/crm.pipeline.v1.rs"));
        }
    }
    /// svc-metrics.
    pub mod metrics {
        /// Version 1.
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/crm.metrics.v1.rs"));
        }
    }
    /// svc-webhooks.
    pub mod webhooks {
        /// Version 1.
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/crm.webhooks.v1.rs"));
        }
    }
    /// svc-messaging.
    pub mod messaging {
        /// Version 1.
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/crm.messaging.v1.rs"));
        }
    }
}

pub use crm::auth::v1 as auth;
pub use crm::messaging::v1 as messaging;
pub use crm::metrics::v1 as metrics;
pub use crm::pipeline::v1 as pipeline;
pub use crm::webhooks::v1 as webhooks;
