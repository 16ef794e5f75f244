//! gRPC-web through the gateway: a text-mode call framed by hand, and Google's stock
//! `grpc-web` runtime under node in binary and text mode (with what it needs to run: the
//! node clients, a time limit, the descriptor set).

use super::{INTERNAL_SERVICES, PUBLIC_SERVICES, STANDARD_SERVICES, base64, gateway_serving};
use crate::helpers::TestApp;
use crm_proto::auth::GetMeResponse;
use prost::Message;
use serde_json::Value;
use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

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
