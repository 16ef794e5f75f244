//! Signed hooks: a call passes only with an HMAC over the exact body, under the hook's
//! secret (shown once, replaced when verification is switched back on).

use super::{HOOKS, call_json, contact_mapping, hook};
use crate::helpers::TestApp;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_hooks_take_only_calls_signed_over_the_exact_body() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (created, token) = hook(
        &app,
        &owner,
        json!({"name": "Signed", "verify_signature": true, "signature_header": "X-Hub-Signature",
               "field_mapping": contact_mapping()}),
    )
    .await;
    assert_eq!(created["data"]["verify_signature"], true);
    let secret = created["signing_secret"].as_str().unwrap().to_owned();
    let (_, got) = app
        .send(app.get_as(
            &owner.token,
            &format!("{HOOKS}/{}", created["data"]["id"].as_str().unwrap()),
        ))
        .await;
    assert!(
        !got.to_string().contains(&secret),
        "the secret is shown once"
    );

    // Odd spacing: the signature covers the bytes as sent, not a re-serialization.
    let body = br#"{ "contact": {"name": "Signed Sender", "phones": ["+15551230005"]} }"#;
    let url = app.url(&format!("/api/v1/webhooks/incoming/{token}"));
    let post = |signature: Option<String>| {
        let mut r = app
            .http
            .post(&url)
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(s) = signature {
            r = r.header("x-hub-signature", s);
        }
        r
    };
    let (s, b) = app.send(post(None)).await;
    assert_eq!(s, 401, "{b}");
    assert_eq!(b["code"], "INVALID_SIGNATURE");
    let (s, b) = app.send(post(Some(hmac_hex("wrong", body)))).await;
    assert_eq!(s, 401, "{b}");
    let (s, b) = app.send(post(Some("not-hex".into()))).await;
    assert_eq!(s, 401, "{b}");
    let (s, b) = app
        .send(post(Some(format!("sha256={}", hmac_hex(&secret, body)))))
        .await;
    assert_eq!(s, 201, "{b}");

    // Turning verification off takes unsigned calls again; on makes a new secret.
    let id = created["data"]["id"].as_str().unwrap();
    let (s, off) = app
        .send(
            app.put_as(&owner.token, &format!("{HOOKS}/{id}"))
                .json(&json!({"verify_signature": false})),
        )
        .await;
    assert_eq!(s, 200, "{off}");
    assert_eq!(off["data"]["verify_signature"], false);
    let (s, b) = call_json(
        &app,
        &token,
        &json!({"contact": {"name": "Plain Sender", "phones": ["+15551230006"]}}),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let (_, on) = app
        .send(
            app.put_as(&owner.token, &format!("{HOOKS}/{id}"))
                .json(&json!({"verify_signature": true})),
        )
        .await;
    let new_secret = on["signing_secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    let (s, _) = app.send(post(Some(hmac_hex(&secret, body)))).await;
    assert_eq!(s, 401, "the old secret no longer signs");
}
