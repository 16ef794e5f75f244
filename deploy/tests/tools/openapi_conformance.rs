//! The OpenAPI document against the running stack: schemathesis (`--checks all`) sends
//! schema-valid and schema-violating requests to every operation and fails on a 5xx, a valid
//! request refused, an invalid one accepted, or an answer that does not match the document.
//! Cross-field and state rules a schema cannot state are listed in
//! `deploy/tests/py/schemathesis.toml`.

use crate::helpers::{Options, TestApp};
use crm_gateway::ratelimit::policy::RateLimitConfig;
use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    time::Duration,
};

/// Examples per operation and phase: 119 operations finish in about a minute per pass.
const MAX_EXAMPLES: &str = "5";

/// Why a test needing an outside tool cannot run, or `None` when it can. With
/// `CRM_REQUIRE_TOOLS=1` (CI, after installing the tools) a missing tool fails the test
/// instead of skipping it.
pub fn skip_without(tool: &str, version_args: &[&str], install: &str) -> bool {
    let found = Command::new(tool)
        .args(version_args)
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return false;
    }
    let why = format!("{tool} is not installed ({install})");
    if std::env::var("CRM_REQUIRE_TOOLS").as_deref() == Ok("1") {
        panic!("CRM_REQUIRE_TOOLS=1 and {why}");
    }
    eprintln!("skipped: {why}");
    true
}

/// Runs a command off the runtime, giving up after `limit`.
pub async fn run(mut command: Command, limit: Duration) -> Output {
    let job = tokio::task::spawn_blocking(move || command.output().expect("command starts"));
    tokio::time::timeout(limit, job)
        .await
        .expect("the command finishes in time")
        .expect("the command's thread")
}

fn config_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/schemathesis.toml")
}

/// One schemathesis pass with `header` as the credentials; returns its exit status and a
/// readable tail of its report.
async fn schemathesis(app: &TestApp, header: &str, filter: &[&str]) -> (bool, String) {
    // schemathesis writes its example database and reports under the working directory.
    let dir = std::env::temp_dir().join(format!("crm-schemathesis-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let seed = std::env::var("CRM_SCHEMATHESIS_SEED").unwrap_or_else(|_| "20261205".into());
    let mut command = Command::new("schemathesis");
    command
        .current_dir(&dir)
        .arg("--config-file")
        .arg(config_file())
        .args(["run", &app.url("/openapi.json")])
        .args(["--checks", "all", "--workers", "1", "--no-color"])
        .args(["--max-examples", MAX_EXAMPLES, "--seed", &seed])
        .args(["--generation-database", "none", "--request-timeout", "10"])
        // The gateway refuses NUL in any text with a 400 naming the field (docs/decisions.md,
        // "NUL in text"); the document does not repeat that on every string.
        .args(["--generation-allow-x00", "false"])
        .args(["-H", header])
        .args(filter);
    let out = run(command, Duration::from_secs(600)).await;
    let _ = std::fs::remove_dir_all(&dir);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let tail: String = text
        .lines()
        .skip_while(|l| !l.contains("FAILURES") && !l.contains("SUMMARY"))
        .collect::<Vec<_>>()
        .join("\n");
    let report = if tail.is_empty() { text } else { tail };
    (out.status.success(), report)
}

#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_no_failure_in_any_operation() {
    if skip_without(
        "schemathesis",
        &["--version"],
        "pip install -r deploy/tests/py/requirements.txt",
    ) {
        return;
    }
    // Thousands of calls a minute: limits would answer 429 to most of them.
    let app = TestApp::spawn_with(Options {
        rate_limits: Some(RateLimitConfig {
            enabled: false,
            ..RateLimitConfig::default()
        }),
        ..Options::default()
    })
    .await;
    let owner = app.owner("Conformance").await;
    let (_, key) = app.key(&owner.token, &["*"]).await;

    // Every operation as the workspace owner (user token).
    let (ok, report) =
        schemathesis(&app, &format!("Authorization: Bearer {}", owner.token), &[]).await;
    assert!(ok, "schemathesis with a user token:\n{report}");
    // The record services again with an API key holding every scope, as partners call them.
    let tags = "PipelineService|StageService|OpportunityService|CompanyService|ContactService|TagService|AuthService";
    let (ok, report) = schemathesis(
        &app,
        &format!("X-API-Key: {key}"),
        &["--include-tag-regex", &format!("^({tags})$")],
    )
    .await;
    assert!(ok, "schemathesis with an API key:\n{report}");
    app.stack.stop().await;
}
