//! One API-key call through the gateway on each of its faces, in the default configuration:
//! REST `GET /api/auth/me`, gRPC `AuthService.GetMe` and gRPC-web (binary) `GetMe`, all with
//! the same key against the embedded stack on 127.0.0.1. Prints requests/s, p50/p99 and the
//! server CPU time per request (/proc/PID/stat of the `crm` process: gateway and services).
//!
//! `cargo run --release -p crm-bench --bin edge_paths -- [concurrency] [seconds per path]`
//! (defaults 32 and 8). The key's own limit is raised out of reach, so no call is refused.

use bytes::Bytes;
use crm_bench::{Server, measure, print};
use crm_proto::auth::{GetMeRequest, auth_service_client::AuthServiceClient};
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use prost::Message;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let concurrency: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(32);
    let seconds: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(8);
    let server = Server::start(18185)?;
    let (_, key) = server.key(&["contacts:read"]).await?;
    let pid = server.pid();

    let rest = {
        let http: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(concurrency)
            .build_http();
        let uri: hyper::Uri = format!("{}/api/auth/me", server.base).parse()?;
        let key = key.clone();
        move || {
            let (http, uri, key) = (http.clone(), uri.clone(), key.clone());
            async move {
                let request = hyper::Request::get(uri)
                    .header("x-api-key", key)
                    .body(Empty::new())
                    .expect("request");
                match http.request(request).await {
                    Ok(r) if r.status() == 200 => r.into_body().collect().await.is_ok(),
                    _ => false,
                }
            }
        }
    };

    let grpc = {
        // One HTTP/2 connection, as a gRPC client keeps.
        let channel = tonic::transport::Endpoint::from_shared(server.base.clone())?
            .connect()
            .await?;
        let client = AuthServiceClient::new(channel);
        let key: tonic::metadata::MetadataValue<_> = key.parse()?;
        move || {
            let (mut client, key) = (client.clone(), key.clone());
            async move {
                let mut request = tonic::Request::new(GetMeRequest {});
                request.metadata_mut().insert("x-api-key", key);
                client.get_me(request).await.is_ok()
            }
        }
    };

    let grpc_web = {
        // gRPC-web as a browser sends it: HTTP/1.1, one length-prefixed frame.
        let http: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(concurrency)
            .build_http();
        let uri: hyper::Uri = format!("{}/crm.auth.v1.AuthService/GetMe", server.base).parse()?;
        let message = GetMeRequest {}.encode_to_vec();
        let mut frame = vec![0u8];
        frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
        frame.extend_from_slice(&message);
        let frame = Bytes::from(frame);
        move || {
            let (http, uri, key, frame) = (http.clone(), uri.clone(), key.clone(), frame.clone());
            async move {
                let request = hyper::Request::post(uri)
                    .header("content-type", "application/grpc-web+proto")
                    .header("x-grpc-web", "1")
                    .header("x-api-key", key)
                    .body(Full::new(frame))
                    .expect("request");
                match http.request(request).await {
                    Ok(r) if r.status() == 200 => match r.into_body().collect().await {
                        // The trailer frame carries the status: `grpc-status:0`.
                        Ok(body) => {
                            let body = body.to_bytes();
                            body.windows(13).any(|w| w == b"grpc-status:0")
                        }
                        Err(_) => false,
                    },
                    _ => false,
                }
            }
        }
    };

    println!(
        "API-key GetMe through the gateway, concurrency {concurrency}, {seconds} s per path, server = crm process (all services + gateway), default configuration"
    );
    let r = measure(pid, concurrency, seconds, rest).await;
    print("REST GET /api/auth/me", &r);
    let g = measure(pid, concurrency, seconds, grpc).await;
    print("gRPC AuthService/GetMe", &g);
    let w = measure(pid, concurrency, seconds, grpc_web).await;
    print("gRPC-web (binary) AuthService/GetMe", &w);
    Ok(())
}
