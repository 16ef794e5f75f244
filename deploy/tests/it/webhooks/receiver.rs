//! A local receiver that records the requests it gets, and both signature schemes checked
//! the way a subscriber would: Standard Webhooks and seed 003's `v1=`.

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::sync::{Arc, Mutex};

/// One request a receiver got.
#[derive(Clone, Debug)]
pub(super) struct Received {
    headers: axum::http::HeaderMap,
    pub(super) body: Vec<u8>,
}

/// A receiver on 127.0.0.1:0 that records what it gets and answers `status` with `answer`.
pub(super) async fn receiver(
    status: u16,
    answer: &'static str,
) -> (String, Arc<Mutex<Vec<Received>>>) {
    use axum::{Router, body::Bytes, http::HeaderMap, routing::post};
    let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
    let log = seen.clone();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push(Received {
                    headers: headers.clone(),
                    body: body.to_vec(),
                });
                let code = axum::http::StatusCode::from_u16(status).unwrap();
                let mut response = axum::response::IntoResponse::into_response((code, answer));
                if code.is_redirection() {
                    response
                        .headers_mut()
                        .insert("location", "http://127.0.0.1:1/elsewhere".parse().unwrap());
                }
                response
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), seen)
}

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

pub(super) fn header<'a>(r: &'a Received, name: &str) -> &'a str {
    r.headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

/// True when one of the Standard Webhooks signatures is `secret`'s.
pub(super) fn standard_signed_by(r: &Received, secret: &str) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut signed = format!(
        "{}.{}.",
        header(r, "webhook-id"),
        header(r, "webhook-timestamp")
    )
    .into_bytes();
    signed.extend_from_slice(&r.body);
    let expected = format!("v1,{}", STANDARD.encode(hmac(&key, &signed)));
    header(r, "webhook-signature")
        .split(' ')
        .any(|s| s == expected)
}

/// True when one of seed 003's `v1=` signatures is `secret`'s: hex HMAC of `ts.body` keyed
/// by the secret as shown.
pub(super) fn seed_signed_by(r: &Received, secret: &str) -> bool {
    let value = header(r, "x-webhook-signature");
    let mut parts = value.split(',');
    let ts = parts.next().unwrap().strip_prefix("t=").unwrap();
    let mut signed = format!("{ts}.").into_bytes();
    signed.extend_from_slice(&r.body);
    let expected = hex::encode(hmac(secret.as_bytes(), &signed));
    parts.any(|p| p.strip_prefix("v1=") == Some(expected.as_str()))
}
