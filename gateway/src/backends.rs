//! Channels to the services behind the gateway, one per backend, connected lazily so the
//! gateway starts (and reports not-ready) while a backend is still coming up.

use crate::error::GatewayError;
use std::{collections::HashMap, time::Duration};
use tonic::transport::{Channel, Endpoint};

/// Addresses of the backends by name (`auth`, `pipeline`, ...).
pub type BackendUrls = HashMap<String, String>;

/// Open channels by backend name.
#[derive(Clone)]
pub struct Backends {
    channels: HashMap<String, Channel>,
}

impl Backends {
    /// Lazily connecting channels to every URL.
    pub fn new(urls: &BackendUrls) -> Result<Self, String> {
        let mut channels = HashMap::new();
        for (name, url) in urls {
            let endpoint = Endpoint::from_shared(url.clone())
                .map_err(|e| format!("backend {name}: bad url {url}: {e}"))?
                .connect_timeout(Duration::from_secs(2))
                .tcp_nodelay(true)
                .http2_adaptive_window(true);
            channels.insert(name.clone(), endpoint.connect_lazy());
        }
        Ok(Self { channels })
    }

    /// The channel of a backend.
    pub fn get(&self, name: &str) -> Result<Channel, GatewayError> {
        self.channels.get(name).cloned().ok_or_else(|| {
            GatewayError::new(
                tonic::Code::Unavailable,
                "SERVICE_UNAVAILABLE",
                format!("no backend configured for '{name}'"),
            )
        })
    }

    /// Backend names.
    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.channels.keys()
    }
}
