//! Email through a real SMTP server: Python's `aiosmtpd` (PyPI), started by the test, writes
//! each message it accepts to a directory and refuses one recipient with a 550.

use crate::helpers::{Options, TestApp};
use crate::openapi_conformance::{run, skip_without};
use serde_json::{Value, json};
use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

/// An SMTP server on a free port: messages go to `argv[1]` as files; `refused@...` gets 550.
const SERVER: &str = r#"
import socket, sys, threading, time
from aiosmtpd.controller import Controller

class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("refused@"):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        name = f"{sys.argv[1]}/{time.time_ns()}.eml"
        with open(name + ".tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        import os
        os.rename(name + ".tmp", name)
        return "250 Message accepted"

probe = socket.socket()
probe.bind(("127.0.0.1", 0))
port = probe.getsockname()[1]
probe.close()
controller = Controller(Handler(), hostname="127.0.0.1", port=port)
controller.start()
print(port, flush=True)
threading.Event().wait()
"#;

/// True when aiosmtpd cannot be used (see [`skip_without`]).
async fn skip_without_aiosmtpd() -> bool {
    if skip_without(
        "python3",
        &["--version"],
        "install Python 3 and pip install -r deploy/tests/py/requirements.txt",
    ) {
        return true;
    }
    let mut probe = Command::new("python3");
    probe.args(["-c", "import aiosmtpd"]);
    if run(probe, Duration::from_secs(30)).await.status.success() {
        return false;
    }
    let why = "the Python package aiosmtpd is not installed (pip install -r deploy/tests/py/requirements.txt)";
    if std::env::var("CRM_REQUIRE_TOOLS").as_deref() == Ok("1") {
        panic!("CRM_REQUIRE_TOOLS=1 and {why}");
    }
    eprintln!("skipped: {why}");
    true
}

/// The server process; killed when dropped.
struct SmtpServer {
    child: Child,
    port: u16,
    inbox: PathBuf,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.inbox);
    }
}

async fn start_server() -> SmtpServer {
    let inbox = std::env::temp_dir().join(format!("crm-smtp-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&inbox).unwrap();
    let mut child = Command::new("python3")
        .args(["-c", SERVER])
        .arg(&inbox)
        .stdout(Stdio::piped())
        .spawn()
        .expect("the SMTP server starts");
    let stdout = child.stdout.take().unwrap();
    let port = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).unwrap();
            line.trim()
                .parse::<u16>()
                .expect("the server prints its port")
        }),
    )
    .await
    .expect("the SMTP server prints its port in time")
    .unwrap();
    SmtpServer { child, port, inbox }
}

fn messages(inbox: &Path) -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir(inbox)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

async fn settled(app: &TestApp, token: &str, id: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (s, b) = app
            .send(app.get_as(token, &format!("/api/messages/{id}")))
            .await;
        assert_eq!(s, 200, "{b}");
        let status = b["data"]["status"].as_str().unwrap_or_default().to_owned();
        if !matches!(status.as_str(), "pending" | "sending") || std::time::Instant::now() > deadline
        {
            return b["data"].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn email_goes_out_through_a_real_smtp_server() {
    if skip_without_aiosmtpd().await {
        return;
    }
    let server = start_server().await;
    let mut settings = svc_messaging::MessagingSettings::default();
    settings.providers.email_provider = "smtp".into();
    settings.providers.smtp = svc_messaging::SmtpConfig {
        host: "127.0.0.1".into(),
        port: server.port,
        tls: "none".into(),
        from: "CRM <no-reply@crm.test>".into(),
        ..Default::default()
    };
    let app = TestApp::spawn_with(Options {
        messaging: Some(settings),
        ..Options::default()
    })
    .await;
    let owner = app.owner("Mailers").await;
    let (s, b) = app
        .send(app.post_as(&owner.token, "/api/contacts").json(&json!({
            "firstname": "Ada", "lastname": "Lovelace", "phone_number": "+15550001111",
        })))
        .await;
    assert_eq!(s, 201, "{b}");
    let contact = b["data"]["id"].as_str().unwrap().to_owned();
    let schedule = |to: &str| {
        app.post_as(&owner.token, "/api/schedule-email")
            .json(&json!({
                "to": to,
                "subject": "Hello",
                "html": "<p>Email content</p>",
                "contactId": contact,
                "workspaceId": owner.workspace_id,
                "metadata": {"source": "broadcast2"},
            }))
    };
    let (s, b) = app.send(schedule("recipient@example.com")).await;
    assert_eq!(s, 200, "{b}");
    let id = b["jobId"].as_str().unwrap().to_owned();
    let (s, b) = app.send(schedule("refused@example.com")).await;
    assert_eq!(s, 200, "{b}");
    let refused = b["jobId"].as_str().unwrap().to_owned();

    let sent = settled(&app, &owner.token, &id).await;
    assert_eq!(sent["status"], "sent", "{sent}");
    assert_eq!(sent["providerMessageId"], format!("<{id}@crm.test>"));
    let inbox = messages(&server.inbox);
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    let mail = &inbox[0];
    for expected in [
        "Subject: Hello",
        "To: recipient@example.com",
        "From: CRM <no-reply@crm.test>",
        "Content-Type: text/html",
        "<p>Email content</p>",
    ] {
        assert!(mail.contains(expected), "{expected} missing from {mail}");
    }
    assert!(mail.contains(&format!("<{id}@crm.test>")), "{mail}");

    // The server's permanent refusal fails the job at once, with its reason.
    let failed = settled(&app, &owner.token, &refused).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["attempts"], 1);
    assert!(
        failed["reason"]
            .as_str()
            .unwrap()
            .contains("mailbox unavailable"),
        "{failed}"
    );
}
