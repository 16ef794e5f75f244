//! `/docs`: the API reference page, served from the binary under a strict CSP and rendered
//! from `/openapi.json` in a real browser (headless Chromium).

use crate::{
    helpers::TestApp,
    openapi_conformance::{run, skip_without},
};
use std::{process::Command, time::Duration};

#[tokio::test(flavor = "multi_thread")]
async fn the_reference_page_and_its_assets_are_served_from_the_binary() {
    let app = TestApp::spawn().await;
    let r = app.http.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    let page = r.text().await.unwrap();
    assert!(page.contains("/docs/assets/swagger-ui-bundle.js"));
    assert!(
        !page.contains("https://"),
        "no CDN: every file comes from the gateway"
    );
    for (file, kind) in [
        ("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
        ("swagger-ui.css", "text/css; charset=utf-8"),
        ("docs.js", "text/javascript; charset=utf-8"),
        ("LICENSE", "text/plain; charset=utf-8"),
    ] {
        let r = app
            .http
            .get(app.url(&format!("/docs/assets/{file}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{file}");
        assert_eq!(r.headers()["content-type"], kind, "{file}");
    }
    let r = app
        .http
        .get(app.url("/docs/assets/..%2F..%2FCargo.toml"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn chromium_renders_every_service_from_the_document() {
    if skip_without(
        "chromium",
        &["--headless", "--no-sandbox", "--version"],
        "apt-get install -y chromium",
    ) {
        return;
    }
    let app = TestApp::spawn().await;
    let profile = std::env::temp_dir().join(format!("crm-chromium-{}", uuid::Uuid::new_v4()));
    let mut command = Command::new("chromium");
    command
        .args(["--headless", "--no-sandbox", "--disable-gpu"])
        // Tall enough that Swagger UI, which renders what is in view, renders every tag.
        .arg("--window-size=1280,40000")
        .args([
            "--disable-background-networking",
            "--disable-component-update",
        ])
        .args([
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        // Lets the page's scripts fetch /openapi.json and render before the DOM is dumped.
        .arg("--virtual-time-budget=15000")
        .args(["--dump-dom", &app.url("/docs")]);
    let out = run(command, Duration::from_secs(120)).await;
    let _ = std::fs::remove_dir_all(&profile);
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for rendered in [
        "CRM API",
        "ContactService",
        "PipelineService",
        "/api/pipeline/opportunities",
        // Operation summaries, from the RPCs' comments or names.
        "Create API client",
        "Exchanges email and password for a signed JWT",
    ] {
        assert!(dom.contains(rendered), "the page shows {rendered:?}");
    }
    app.stack.stop().await;
}
