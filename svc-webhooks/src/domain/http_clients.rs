//! HTTP clients for sends, kept per (host, checked address, certificate checking), so
//! deliveries to one receiver reuse its TLS setup and keep-alive connections. A client is
//! pinned to the address the target policy checked: a name that resolves elsewhere later
//! gets a new client, never the old connection.

use reqwest::redirect::Policy;
use std::{collections::HashMap, net::SocketAddr, sync::Mutex};

/// Clients kept at most; past that the cache starts over (receivers are few per process,
/// so this only bounds what DNS churn could pile up).
const MAX_CLIENTS: usize = 1024;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    /// The URL's host when it is a name (the client resolves it to `addr`); none for an IP.
    host: Option<String>,
    addr: SocketAddr,
    verify_tls: bool,
}

/// The process's send clients.
#[derive(Default)]
pub struct HttpClients {
    clients: Mutex<HashMap<Key, reqwest::Client>>,
}

impl HttpClients {
    /// A client that sends to `host` at `addr` only, follows no redirect and uses no proxy;
    /// the caller sets each request's timeout.
    pub fn get(
        &self,
        host: Option<&str>,
        addr: SocketAddr,
        verify_tls: bool,
    ) -> Result<reqwest::Client, reqwest::Error> {
        let key = Key {
            host: host.map(str::to_owned),
            addr,
            verify_tls,
        };
        if let Some(client) = self.clients.lock().expect("not poisoned").get(&key) {
            return Ok(client.clone());
        }
        let mut builder = reqwest::Client::builder()
            .redirect(Policy::none())
            .no_proxy()
            .danger_accept_invalid_certs(!verify_tls);
        if let Some(host) = host {
            builder = builder.resolve(host, addr);
        }
        let client = builder.build()?;
        let mut clients = self.clients.lock().expect("not poisoned");
        if clients.len() >= MAX_CLIENTS {
            clients.clear();
        }
        clients.insert(key, client.clone());
        Ok(client)
    }
}
