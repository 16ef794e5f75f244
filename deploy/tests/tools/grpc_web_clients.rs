//! The gateway's gRPC faces with stock clients: gRPC-web in binary and text mode (Google's
//! `grpc-web` runtime, run by node), reflection (what `grpcurl list` uses) and gRPC health,
//! all on the gateway's one port.

use crate::helpers::{TestApp, within};
use crm_proto::auth::GetMeResponse;
use prost::Message;
use serde_json::Value;
use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};
use tokio_stream::StreamExt;
use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// Every service a caller outside can use, as reflection must list it.
const PUBLIC_SERVICES: [&str; 20] = [
    "crm.auth.v1.AuthService",
    "crm.auth.v1.ApiKeyService",
    "crm.auth.v1.ApiClientService",
    "crm.auth.v1.WorkspaceService",
    "crm.pipeline.v1.PipelineService",
    "crm.pipeline.v1.StageService",
    "crm.pipeline.v1.OpportunityService",
    "crm.pipeline.v1.CompanyService",
    "crm.pipeline.v1.ContactService",
    "crm.pipeline.v1.TagService",
    "crm.pipeline.v1.ActionService",
    "crm.pipeline.v1.CalendarService",
    "crm.metrics.v1.MetricsService",
    "crm.metrics.v1.UsageService",
    "crm.webhooks.v1.WebhooksService",
    "crm.webhooks.v1.TriggerService",
    "crm.webhooks.v1.IncomingWebhooksService",
    "crm.messaging.v1.MessagingService",
    "crm.messaging.v1.SequenceService",
    "crm.messaging.v1.ProviderCallbackService",
];
/// The standard services the gateway answers itself.
const STANDARD_SERVICES: [&str; 3] = [
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];
/// Services only our own services call: never listed.
const INTERNAL_SERVICES: [&str; 4] = [
    "crm.auth.v1.KeyValidationService",
    "crm.metrics.v1.UsageIngestService",
    "crm.webhooks.v1.EventSinkService",
    "crm.pipeline.v1.AssignmentService",
];

/// `application/grpc-web-text` is what the `grpc-web` npm library sends by default: the
/// frames base64-encoded. The call reaches svc-auth and the answer comes back in text too.
#[tokio::test(flavor = "multi_thread")]
async fn grpc_web_text_calls_reach_the_service() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (id, key) = app.key(&owner.token, &["contacts:read"]).await;
    // An empty GetMeRequest: one uncompressed frame of length 0.
    let response = app
        .http
        .post(app.url("/crm.auth.v1.AuthService/GetMe"))
        .header("content-type", "application/grpc-web-text")
        .header("accept", "application/grpc-web-text")
        .header("x-grpc-web", "1")
        .header("x-api-key", &key)
        .body(base64::encode(&[0, 0, 0, 0, 0]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("application/grpc-web-text"),
        "{content_type}"
    );
    // A trailers-only answer (a refusal) would carry its status in the headers.
    let refusal = format!(
        "{:?} {:?}",
        response.headers().get("grpc-status"),
        response.headers().get("grpc-message")
    );
    let text = response.text().await.unwrap();
    let body = base64::decode_chunks(&text);
    assert!(body.len() > 5, "no message; status {refusal}");
    assert_eq!(body[0], 0, "first frame carries the message: {text}");
    let len = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
    let me = GetMeResponse::decode(&body[5..5 + len]).unwrap();
    assert_eq!(me.api_key_id, id);
    assert_eq!(me.workspace_id, owner.workspace_id);
    let trailers = &body[5 + len..];
    assert_eq!(trailers[0], 0x80, "then the trailers frame");
    assert!(String::from_utf8_lossy(&trailers[5..]).contains("grpc-status:0"));
    app.stack.stop().await;
}

/// What `grpcurl -plaintext HOST:PORT list` does: reflection on the gateway's port lists the
/// public API and the standard services, never an internal one, in v1 and v1alpha alike.
#[tokio::test(flavor = "multi_thread")]
async fn reflection_lists_the_public_api_and_nothing_internal() {
    let app = TestApp::spawn().await;
    let v1 = reflection_v1::list_services(&app.base).await;
    let v1alpha = reflection_v1alpha::list_services(&app.base).await;
    assert_eq!(v1, v1alpha, "both versions list the same");
    let expected: BTreeSet<String> = PUBLIC_SERVICES
        .iter()
        .chain(&STANDARD_SERVICES)
        .map(|s| (*s).to_owned())
        .collect();
    assert_eq!(v1, expected);

    // Describing a public service (`grpcurl describe`) shows its file without the internal
    // service that shares it; asking for the internal one finds nothing.
    let file = reflection_v1::file_containing(&app.base, "crm.auth.v1.AuthService")
        .await
        .expect("AuthService is described");
    let services: Vec<&str> = file
        .service
        .iter()
        .filter_map(|s| s.name.as_deref())
        .collect();
    assert!(services.contains(&"AuthService"), "{services:?}");
    assert!(!services.contains(&"KeyValidationService"), "{services:?}");
    for internal in INTERNAL_SERVICES {
        let err = reflection_v1::file_containing(&app.base, internal)
            .await
            .expect_err(internal);
        assert_eq!(err, Code::NotFound as i32, "{internal}");
        let err = reflection_v1alpha::file_containing(&app.base, internal)
            .await
            .expect_err(internal);
        assert_eq!(err, Code::NotFound as i32, "{internal} (v1alpha)");
    }
    app.stack.stop().await;
}

/// gRPC health on the gateway's port, without credentials: the gateway's readiness under the
/// empty name, each public service's backend under its name; internal services are unknown.
#[tokio::test(flavor = "multi_thread")]
async fn health_answers_for_the_gateway_and_each_public_service() {
    let app = TestApp::spawn().await;
    let mut health = HealthClient::new(channel(&app.base).await);
    assert!(
        gateway_serving(&app.base, Duration::from_secs(5)).await,
        "the gateway reports SERVING once its backends answer"
    );
    for service in PUBLIC_SERVICES {
        let status = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .unwrap_or_else(|e| panic!("{service}: {e}"))
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service}");
    }
    for internal in INTERNAL_SERVICES {
        let err = health
            .check(HealthCheckRequest {
                service: internal.to_owned(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{internal}");
    }

    // gRPC-web text, hand-framed: an empty HealthCheckRequest asks for the gateway.
    let response = app
        .http
        .post(app.url("/grpc.health.v1.Health/Check"))
        .header("content-type", "application/grpc-web-text")
        .header("accept", "application/grpc-web-text")
        .header("x-grpc-web", "1")
        .body(base64::encode(&[0, 0, 0, 0, 0]))
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    let body = base64::decode_chunks(&text);
    assert!(body.len() > 5, "no message: {text:?}");
    let len = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
    let answer = tonic_health::pb::HealthCheckResponse::decode(&body[5..5 + len]).unwrap();
    assert_eq!(answer.status, ServingStatus::Serving as i32);
    app.stack.stop().await;
}

/// A `Watch` stream says SERVING, then NOT_SERVING when the gateway shuts down, and ends, so
/// an open watcher does not hold the shutdown.
#[tokio::test(flavor = "multi_thread")]
async fn watch_reports_the_shutdown_and_ends() {
    let app = TestApp::spawn().await;
    assert!(gateway_serving(&app.base, Duration::from_secs(5)).await);
    let mut health = HealthClient::new(channel(&app.base).await);
    let mut watch = health
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.next().await.unwrap().unwrap();
    assert_eq!(first.status, ServingStatus::Serving as i32);
    let started = Instant::now();
    let stopping = tokio::spawn(app.stack.stop());
    let mut last = None;
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(message)) = watch.next().await {
            last = Some(message.status);
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream ends on shutdown");
    assert_eq!(last, Some(ServingStatus::NotServing as i32));
    stopping.await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        started.elapsed()
    );
}

/// Google's `grpc-web` runtime, run by node, in binary and text mode: unary calls to svc-auth
/// and svc-pipeline with an API key, a refusal without one, and server streaming (health
/// `Watch`, reflection), all through the gateway's port.
#[tokio::test(flavor = "multi_thread")]
async fn stock_grpc_web_clients_work_in_binary_and_text_mode() {
    let Some(clients) = node_clients() else {
        return;
    };
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (id, key) = app
        .key(&owner.token, &["pipelines:read", "pipelines:write"])
        .await;
    assert!(gateway_serving(&app.base, Duration::from_secs(5)).await);
    let descriptors = DescriptorFile::write();
    let output = run_node(
        &clients.join("grpc_web_clients.mjs"),
        &[&app.base, &key, &descriptors.0.to_string_lossy()],
        Duration::from_secs(60),
    )
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "node failed: {stderr}\n{stdout}");
    let calls: BTreeMap<(String, String), Value> = stdout
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            let call = (
                v["format"].as_str().unwrap().to_owned(),
                v["call"].as_str().unwrap().to_owned(),
            );
            (call, v)
        })
        .collect();
    for format in ["binary", "text"] {
        let call = |name: &str| {
            calls
                .get(&(format.to_owned(), name.to_owned()))
                .unwrap_or_else(|| panic!("{format} {name} missing: {stdout}\n{stderr}"))
        };
        let me = call("get_me");
        assert_eq!(me["response"]["apiKeyId"], id.as_str(), "{format}: {me}");
        assert_eq!(me["response"]["workspaceId"], owner.workspace_id.as_str());
        assert_eq!(
            call("get_me_without_key")["code"],
            16,
            "{format}: UNAUTHENTICATED"
        );
        let name = format!("grpc-web {format}");
        let created = call("create_pipeline");
        assert_eq!(
            created["response"]["data"]["name"],
            name.as_str(),
            "{created}"
        );
        let listed = call("list_pipelines");
        let names: Vec<&str> = listed["response"]["data"]
            .as_array()
            .unwrap_or_else(|| panic!("{format}: {listed}"))
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert!(names.contains(&name.as_str()), "{format}: {names:?}");
        let check = call("health_check");
        assert_eq!(check["response"]["status"], "SERVING", "{format}: {check}");
        let watch = call("health_watch");
        assert_eq!(watch["code"], 0, "{format}: {watch}");
        assert_eq!(
            watch["messages"][0]["status"], "SERVING",
            "{format}: {watch}"
        );
        for version in ["v1", "v1alpha"] {
            let listing = call(&format!("reflection_{version}"));
            assert_eq!(listing["code"], 0, "{format} {version}: {listing}");
            let listed: BTreeSet<&str> = listing["messages"][0]["listServicesResponse"]["service"]
                .as_array()
                .unwrap_or_else(|| panic!("{format} {version}: {listing}"))
                .iter()
                .filter_map(|s| s["name"].as_str())
                .collect();
            for service in PUBLIC_SERVICES.iter().chain(&STANDARD_SERVICES) {
                assert!(listed.contains(service), "{format} {version}: {service}");
            }
            for internal in INTERNAL_SERVICES {
                assert!(!listed.contains(internal), "{format} {version}: {internal}");
            }
        }
    }
    // What the clients created is there for REST callers too.
    let (status, body) = app.get_with_key("/api/pipeline/pipelines", &key).await;
    assert_eq!(status, 200, "{body}");
    let names: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(names.contains(&"grpc-web binary") && names.contains(&"grpc-web text"));
    app.stack.stop().await;
}

/// A gRPC channel to the gateway at `base`.
async fn channel(base: &str) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(base.to_owned())
        .expect("gateway url")
        .connect()
        .await
        .expect("gateway reachable")
}

/// Polls the gateway's health until it reports SERVING; false if it does not within `limit`.
async fn gateway_serving(base: &str, limit: Duration) -> bool {
    let health = HealthClient::new(channel(base).await);
    within(limit, || {
        let mut health = health.clone();
        async move {
            let request = HealthCheckRequest {
                service: String::new(),
            };
            health
                .check(request)
                .await
                .is_ok_and(|r| r.get_ref().status == ServingStatus::Serving as i32)
        }
    })
    .await
    .is_some()
}

/// The directory of the node clients, or `None` (with the reason printed) when node or the
/// installed packages are missing. With `CRM_REQUIRE_TOOLS=1` (CI, after installing them) a
/// missing tool fails the test instead.
fn node_clients() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let missing = if !node.is_ok_and(|s| s.success()) {
        Some("node is not installed".to_owned())
    } else if !dir.join("node_modules").is_dir() {
        Some(format!(
            "{} is missing: run `npm ci` in {}",
            dir.join("node_modules").display(),
            dir.display()
        ))
    } else {
        None
    };
    match missing {
        None => Some(dir),
        Some(why) if std::env::var("CRM_REQUIRE_TOOLS").as_deref() == Ok("1") => {
            panic!("CRM_REQUIRE_TOOLS=1 and {why}")
        }
        Some(why) => {
            eprintln!("skipping the stock gRPC-web client test: {why}");
            None
        }
    }
}

/// Runs `node script args`, killed if it outlives `limit`.
async fn run_node(script: &Path, args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new("node")
        .arg(script)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node starts");
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        // The script prints a few lines only, so the pipes cannot fill up while it runs.
        while child.try_wait().expect("node status").is_none() {
            if started.elapsed() > limit {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        child.wait_with_output().expect("node output")
    })
    .await
    .unwrap()
}

/// The descriptor set the node clients build their messages from: our API, health and
/// reflection (encoded sets concatenate into one). Removed when dropped.
struct DescriptorFile(PathBuf);

impl DescriptorFile {
    fn write() -> Self {
        let path = std::env::temp_dir().join(format!(
            "crm-descriptors-{}.binpb",
            uuid::Uuid::new_v4().simple()
        ));
        let set = [
            crm_proto::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
        ]
        .concat();
        std::fs::write(&path, set).expect("descriptor file");
        Self(path)
    }
}

impl Drop for DescriptorFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A reflection client per protocol version (the generated types differ, the calls do not).
macro_rules! reflection_client {
    ($module:ident, $pb:path) => {
        mod $module {
            use prost::Message;
            use std::collections::BTreeSet;
            use $pb::{
                ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
                server_reflection_request::MessageRequest,
                server_reflection_response::MessageResponse,
            };

            /// The answer to one request, or the status code of a refusal (a failed lookup
            /// can come as either an error answer or a status, depending on the server).
            async fn ask(base: &str, request: MessageRequest) -> Result<MessageResponse, i32> {
                let mut client = ServerReflectionClient::new(super::channel(base).await);
                let request = ServerReflectionRequest {
                    host: String::new(),
                    message_request: Some(request),
                };
                let mut answers = client
                    .server_reflection_info(tokio_stream::iter([request]))
                    .await
                    .map_err(|s| s.code() as i32)?
                    .into_inner();
                match answers.message().await {
                    Ok(answer) => Ok(answer.and_then(|a| a.message_response).expect("an answer")),
                    Err(status) => Err(status.code() as i32),
                }
            }

            /// `ListServices`.
            pub async fn list_services(base: &str) -> BTreeSet<String> {
                match ask(base, MessageRequest::ListServices(String::new())).await {
                    Ok(MessageResponse::ListServicesResponse(list)) => {
                        list.service.into_iter().map(|s| s.name).collect()
                    }
                    other => panic!("{other:?}"),
                }
            }

            /// `FileContainingSymbol`: the file, or the error code.
            pub async fn file_containing(
                base: &str,
                symbol: &str,
            ) -> Result<prost_types::FileDescriptorProto, i32> {
                match ask(base, MessageRequest::FileContainingSymbol(symbol.into())).await? {
                    MessageResponse::FileDescriptorResponse(files) => {
                        let first = files.file_descriptor_proto.first().expect("a file");
                        Ok(prost_types::FileDescriptorProto::decode(first.as_slice()).unwrap())
                    }
                    MessageResponse::ErrorResponse(e) => Err(e.error_code),
                    other => panic!("{other:?}"),
                }
            }
        }
    };
}

reflection_client!(reflection_v1, tonic_reflection::pb::v1);
reflection_client!(reflection_v1alpha, tonic_reflection::pb::v1alpha);

/// Standard base64 (with padding), enough to speak gRPC-web text by hand.
mod base64 {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub fn encode(bytes: &[u8]) -> String {
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    /// Decodes a text-mode body: the server may encode each frame on its own, so padding can
    /// occur in the middle; every 4-character group is decoded separately.
    pub fn decode_chunks(text: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let symbols: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        for group in symbols.chunks(4) {
            let mut n = 0u32;
            let mut pad = 0;
            for &c in group {
                let v = match ALPHABET.iter().position(|&a| a == c) {
                    Some(v) => v as u32,
                    None => {
                        pad += 1;
                        0
                    }
                };
                n = (n << 6) | v;
            }
            let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            out.extend_from_slice(&bytes[..3 - pad]);
        }
        out
    }
}
