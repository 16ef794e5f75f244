//! Our webhook signatures as a stock receiver checks them: a Python server verifying every
//! test send with the `standardwebhooks` library from PyPI (`deploy/tests/py/
//! webhook_receiver.py`), before and during a secret rotation's grace period.

use crate::helpers::{Options, TestApp};
use crate::openapi_conformance::{run, skip_without};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};
use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

/// Why the library cannot be used, or `None` when it can (see [`skip_without`]).
async fn skip_without_library() -> bool {
    if skip_without(
        "python3",
        &["--version"],
        "install Python 3 and pip install -r deploy/tests/py/requirements.txt",
    ) {
        return true;
    }
    let mut probe = Command::new("python3");
    probe.args(["-c", "import standardwebhooks"]);
    if run(probe, Duration::from_secs(30)).await.status.success() {
        return false;
    }
    let why = "the Python package standardwebhooks is not installed (pip install -r deploy/tests/py/requirements.txt)";
    if std::env::var("CRM_REQUIRE_TOOLS").as_deref() == Ok("1") {
        panic!("CRM_REQUIRE_TOOLS=1 and {why}");
    }
    eprintln!("skipped: {why}");
    true
}

/// The receiver process; killed when dropped.
struct Receiver {
    child: Child,
    url: String,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_receiver(secrets_file: &Path) -> Receiver {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/webhook_receiver.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(secrets_file)
        .stdout(Stdio::piped())
        .spawn()
        .expect("the receiver starts");
    let stdout = child.stdout.take().unwrap();
    let port = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).unwrap();
            line.trim().to_owned()
        }),
    )
    .await
    .expect("the receiver prints its port in time")
    .unwrap();
    Receiver {
        child,
        url: format!("http://127.0.0.1:{port}/hook"),
    }
}

fn random_secret() -> String {
    let mut bytes = uuid::Uuid::new_v4().as_bytes().to_vec();
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    format!("whsec_{}", STANDARD.encode(bytes))
}

async fn test_send(app: &TestApp, token: &str, id: &str) -> Value {
    let (s, answer) = app
        .send(
            app.post_as(token, &format!("/api/v1/webhooks/{id}/test"))
                .json(&json!({})),
        )
        .await;
    assert_eq!(s, 200, "{answer}");
    answer["data"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_standardwebhooks_library_verifies_our_signatures() {
    if skip_without_library().await {
        return;
    }
    let app = TestApp::spawn_with(Options {
        webhooks_allow_targets: vec!["127.0.0.1".into()],
        ..Options::default()
    })
    .await;
    let owner = app.owner("Receivers").await;
    let dir = std::env::temp_dir().join(format!("crm-webhook-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let secrets_file = dir.join("secrets");
    let first = random_secret();
    std::fs::write(&secrets_file, format!("{first}\n")).unwrap();
    let receiver = start_receiver(&secrets_file).await;

    // The caller's own secret, so the receiver knows it before the subscription exists.
    let (s, b) = app
        .send(
            app.post_as(&owner.token, "/api/v1/webhooks")
                .json(&json!({"url": receiver.url, "events": ["*"], "secret": first})),
        )
        .await;
    assert!(s == 200 || s == 201, "{s} {b}");
    let id = b["data"]["id"].as_str().unwrap().to_owned();
    let attempt = test_send(&app, &owner.token, &id).await;
    assert_eq!(attempt["status"], "delivered", "{attempt}");
    assert_eq!(attempt["response_body"], "[true]");

    // During the grace period the library accepts the message under either secret.
    let (s, rotated) = app
        .send(
            app.post_as(
                &owner.token,
                &format!("/api/v1/webhooks/{id}/rotate-secret"),
            )
            .json(&json!({"grace_period_seconds": 600})),
        )
        .await;
    assert_eq!(s, 200, "{rotated}");
    let second = rotated["secret"].as_str().unwrap();
    std::fs::write(&secrets_file, format!("{first}\n{second}\n")).unwrap();
    let attempt = test_send(&app, &owner.token, &id).await;
    assert_eq!(attempt["status"], "delivered", "{attempt}");
    assert_eq!(attempt["response_body"], "[true, true]");

    // A secret that is not ours does not verify: the receiver really checks.
    std::fs::write(&secrets_file, format!("{}\n", random_secret())).unwrap();
    let attempt = test_send(&app, &owner.token, &id).await;
    assert_eq!(attempt["status"], "failed", "{attempt}");
    assert_eq!(attempt["response_status"], 401);
    assert_eq!(attempt["response_body"], "[false]");

    drop(receiver);
    let _ = std::fs::remove_dir_all(&dir);
    app.stack.stop().await;
}
