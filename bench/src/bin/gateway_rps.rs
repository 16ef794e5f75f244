//! Throughput through the gateway against calling the same RPC directly, in one run, with the
//! same concurrency: an API-key-authenticated REST `GET /api/auth/me` (→ `AuthService.GetMe`)
//! versus `AuthService.GetMe` over gRPC straight to svc-auth. Also reports server CPU time
//! per request from /proc/PID/stat of the server process.
//!
//! `cargo run --release -p crm-bench --bin gateway_rps -- [concurrency] [seconds] [bare]`
//! runs the default configuration (rate limits and request log on); `bare` switches both off
//! to show the transcoding gateway alone.

use bytes::Bytes;
use crm_bench::{Server, measure, print};
use crm_platform::{Principal, PrincipalKind, Secret, principal::PrincipalVerifier};
use crm_proto::auth::{GetMeRequest, auth_service_client::AuthServiceClient};
use http_body_util::{BodyExt, Empty};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let concurrency: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(32);
    let seconds: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10);
    let bare = args.get(3).is_some_and(|a| a == "bare");
    let server = if bare {
        Server::start_with(
            18182,
            &[
                ("CRM_RATE_LIMITS__ENABLED", "false"),
                ("CRM_REQUEST_LOG__ENABLED", "false"),
            ],
        )?
    } else {
        Server::start(18182)?
    };
    let (_, key) = server.key(&["contacts:read"]).await?;
    let pid = server.pid();

    let channel = tonic::transport::Endpoint::from_shared(server.auth_url.clone())?
        .connect()
        .await?;
    let signer = PrincipalVerifier::new(&Secret::new(server.service_secret.clone()));
    let direct = {
        let client = AuthServiceClient::new(channel);
        move || {
            let mut client = client.clone();
            let signer = signer.clone();
            async move {
                // An internal caller signs a principal per call, as the gateway does.
                let mut request = tonic::Request::new(GetMeRequest {});
                let p = Principal::new(PrincipalKind::ApiKey, "bench-ws", "bench-user");
                signer.sign_into(&p, request.metadata_mut()).is_ok()
                    && client.get_me(request).await.is_ok()
            }
        }
    };

    let http: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(concurrency)
        .build_http();
    let uri: hyper::Uri = format!("{}/api/auth/me", server.base).parse()?;
    let rest = move || {
        let http = http.clone();
        let uri = uri.clone();
        let key = key.clone();
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
    };

    println!(
        "concurrency {concurrency}, {seconds} s per path, server = crm process (all services + gateway), 2 shared cores, {}",
        if bare {
            "rate limits and request log off"
        } else {
            "default configuration (rate limits in-process, request log on)"
        }
    );
    let grpc_run = measure(pid, concurrency, seconds, direct).await;
    print("gRPC GetMe direct to svc-auth", &grpc_run);
    let rest_run = measure(pid, concurrency, seconds, rest).await;
    print("REST GET /api/auth/me via gateway (API key)", &rest_run);
    println!(
        "gateway REST keeps {:.0}% of direct gRPC requests/s",
        100.0 * rest_run.summary.rps / grpc_run.summary.rps
    );
    Ok(())
}
