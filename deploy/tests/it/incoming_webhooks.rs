//! Incoming webhooks over the wire (seed 002 "Incoming Webhooks"): hooks managed under
//! `/api/v1/incoming-webhooks` (token shown once, regenerated at once), and the public
//! `POST /api/v1/webhooks/incoming/{token}` creating, updating or upserting contacts and
//! opportunities in the hook's workspace through its field mapping, with per-field errors
//! named by payload path, optional HMAC signatures, a body limit, a per-hook rate limit and a
//! log of every call.

use crate::helpers::{Owner, TestApp};
use crate::pipelines::pipeline;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

const HOOKS: &str = "/api/v1/incoming-webhooks";

/// Creates a hook; returns (answer, token).
async fn hook(app: &TestApp, owner: &Owner, body: Value) -> (Value, String) {
    let (s, b) = app.send(app.post_as(&owner.token, HOOKS).json(&body)).await;
    assert_eq!(s, 201, "{b}");
    let token = b["token"].as_str().unwrap().to_owned();
    (b, token)
}

/// Posts `body` (raw bytes) to the hook's public URL, without credentials.
async fn call(app: &TestApp, token: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    app.send(
        app.http
            .post(app.url(&format!("/api/v1/webhooks/incoming/{token}")))
            .header("content-type", "application/json")
            .body(body),
    )
    .await
}

async fn call_json(app: &TestApp, token: &str, payload: &Value) -> (u16, Value) {
    call(app, token, payload.to_string()).await
}

async fn logs(app: &TestApp, owner: &Owner, id: &str, query: &str) -> Value {
    let (s, b) = app
        .send(app.get_as(&owner.token, &format!("{HOOKS}/{id}/logs{query}")))
        .await;
    assert_eq!(s, 200, "{b}");
    b
}

fn contact_mapping() -> Value {
    json!({
        "contact.email": "email",
        "contact.name": "full_name",
        "contact.phones.0": "phone_number",
        "meta.status": "lead_status",
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn crud_shows_the_token_once_and_regenerating_stops_the_old_one_at_once() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (created, token) = hook(
        &app,
        &owner,
        json!({"name": "Form Submissions", "module_id": 1, "action": "create",
               "field_mapping": {"email": "email", "name": "full_name", "phone": "phone_number"}}),
    )
    .await;
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created["url"],
        format!("/api/v1/webhooks/incoming/{token}").as_str()
    );
    assert_eq!(created["data"]["module"], "contact");
    assert_eq!(created["data"]["upsert_key"], "email");
    assert_eq!(created["data"]["status"], "active");
    assert_eq!(created["data"]["verify_signature"], false);
    assert!(token.starts_with(created["data"]["token_prefix"].as_str().unwrap()));

    // Reads never show the token again.
    let (s, got) = app
        .send(app.get_as(&owner.token, &format!("{HOOKS}/{id}")))
        .await;
    assert_eq!(s, 200, "{got}");
    assert!(!got.to_string().contains(&token), "{got}");
    assert_eq!(got["data"]["field_mapping"]["name"], "full_name");

    // Paged lists, newest first.
    for name in ["Second", "Third"] {
        hook(
            &app,
            &owner,
            json!({"name": name, "field_mapping": {"e": "email"}}),
        )
        .await;
    }
    let (s, page) = app
        .send(app.get_as(&owner.token, &format!("{HOOKS}?limit=2")))
        .await;
    assert_eq!(s, 200, "{page}");
    let names: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Third", "Second"]);
    assert!(!page.to_string().contains(&token));
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = app
        .send(app.get_as(&owner.token, &format!("{HOOKS}?limit=2&cursor={cursor}")))
        .await;
    assert_eq!(rest["data"][0]["name"], "Form Submissions");
    assert!(rest["next_cursor"].is_null(), "{rest}");

    // Updates; a mapping to a field the module does not have is named.
    let (s, updated) = app
        .send(
            app.put_as(&owner.token, &format!("{HOOKS}/{id}"))
                .json(&json!({"name": "Web form", "action": "upsert"})),
        )
        .await;
    assert_eq!(s, 200, "{updated}");
    assert_eq!(updated["data"]["name"], "Web form");
    assert_eq!(updated["data"]["action"], "upsert");
    let (s, bad) = app
        .send(
            app.post_as(&owner.token, HOOKS)
                .json(&json!({"name": "x", "field_mapping": {"company": "company_name"}})),
        )
        .await;
    assert_eq!(s, 400, "{bad}");
    assert_eq!(bad["details"]["field"], "field_mapping.company");
    let (s, bad) = app
        .send(app.post_as(&owner.token, HOOKS).json(
            &json!({"name": "x", "action": "update", "upsert_key": "phone_number",
                    "field_mapping": {"e": "email"}}),
        ))
        .await;
    assert_eq!(s, 400, "{bad}");
    assert_eq!(bad["details"]["field"], "upsert_key");
    let (s, bad) = app
        .send(
            app.post_as(&owner.token, HOOKS).json(
                &json!({"name": "x", "signature_header": "", "field_mapping": {"e": "email"}}),
            ),
        )
        .await;
    assert_eq!(s, 400, "{bad}");
    assert_eq!(bad["details"]["field"], "signature_header");

    // The token works (an empty object reaches the mapping: 400, not 404) until regenerated.
    let (s, b) = call_json(&app, &token, &json!({})).await;
    assert_eq!(s, 400, "{b}");
    let (s, regenerated) = app
        .send(app.post_as(&owner.token, &format!("{HOOKS}/{id}/regenerate-token")))
        .await;
    assert_eq!(s, 200, "{regenerated}");
    let new_token = regenerated["token"].as_str().unwrap().to_owned();
    assert_ne!(new_token, token);
    assert_eq!(
        regenerated["url"],
        format!("/api/v1/webhooks/incoming/{new_token}").as_str()
    );
    let (s, b) = call_json(&app, &token, &json!({})).await;
    assert_eq!(s, 404, "the old token must stop at once: {b}");
    assert_eq!(b["success"], false);
    let (s, _) = call_json(&app, &new_token, &json!({})).await;
    assert_eq!(s, 400);

    // Inactive and deleted hooks answer like unknown tokens.
    let (s, _) = app
        .send(
            app.put_as(&owner.token, &format!("{HOOKS}/{id}"))
                .json(&json!({"status": "inactive"})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, inactive) = call_json(&app, &new_token, &json!({})).await;
    assert_eq!(s, 404);
    let (_, unknown) = call_json(&app, "iwh_nope", &json!({})).await;
    assert_eq!(inactive["error"], unknown["error"]);
    let (s, _) = app
        .send(app.delete_as(&owner.token, &format!("{HOOKS}/{id}")))
        .await;
    assert_eq!(s, 200);
    let (s, _) = app
        .send(app.get_as(&owner.token, &format!("{HOOKS}/{id}")))
        .await;
    assert_eq!(s, 404);

    // A key needs webhooks:write to create hooks.
    let (_, key) = app.key(&owner.token, &["webhooks:read"]).await;
    let (s, _) = app.get_with_key(HOOKS, &key).await;
    assert_eq!(s, 200);
    let (s, refused) = app
        .send(
            app.http
                .post(app.url(HOOKS))
                .header("x-api-key", &key)
                .json(&json!({"name": "x", "field_mapping": {"e": "email"}})),
        )
        .await;
    assert_eq!(s, 403, "{refused}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_creates_a_contact_from_nested_paths_in_the_hooks_workspace() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let other = app.owner("Other").await;
    let (created, token) = hook(
        &app,
        &owner,
        json!({"name": "Landing page", "field_mapping": contact_mapping()}),
    )
    .await;
    let payload = json!({
        "contact": {"email": "ada@example.com", "name": "Ada Lovelace",
                    "phones": ["+15551230001", "+15551230002"]},
        "meta": {"status": "new"},
        "ignored": true,
    });
    let (s, b) = call_json(&app, &token, &payload).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["success"], true);
    assert_eq!(b["action"], "created");
    assert_eq!(b["module"], "contact");
    let contact_id = b["record_id"].as_str().unwrap().to_owned();

    let (s, c) = app
        .send(app.get_as(&owner.token, &format!("/api/contacts/{contact_id}")))
        .await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["data"]["firstname"], "Ada");
    assert_eq!(c["data"]["lastname"], "Lovelace");
    assert_eq!(c["data"]["email"], "ada@example.com");
    assert_eq!(c["data"]["phone_number"], "+15551230001");
    assert_eq!(c["data"]["lead_status"], "new");
    assert_eq!(c["data"]["webhook_name"], "Landing page");
    assert_eq!(c["data"]["workspace_id"], owner.workspace_id.as_str());

    // Only in the hook's workspace; the other workspace can neither see nor touch the hook.
    let (s, _) = app
        .send(app.get_as(&other.token, &format!("/api/contacts/{contact_id}")))
        .await;
    assert_eq!(s, 404);
    let id = created["data"]["id"].as_str().unwrap();
    for path in [format!("{HOOKS}/{id}"), format!("{HOOKS}/{id}/logs")] {
        let (s, _) = app.send(app.get_as(&other.token, &path)).await;
        assert_eq!(s, 404, "{path}");
    }
    let (s, _) = app
        .send(
            app.put_as(&other.token, &format!("{HOOKS}/{id}"))
                .json(&json!({"name": "mine"})),
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .send(app.post_as(&other.token, &format!("{HOOKS}/{id}/regenerate-token")))
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .send(app.delete_as(&other.token, &format!("{HOOKS}/{id}")))
        .await;
    assert_eq!(s, 404);
    let (_, listed) = app.send(app.get_as(&other.token, HOOKS)).await;
    assert_eq!(listed["data"], json!([]));
    let (s, _) = app
        .send(app.get_as(&owner.token, &format!("{HOOKS}/{id}")))
        .await;
    assert_eq!(s, 200, "the hook survives the other workspace's attempts");
}

#[tokio::test(flavor = "multi_thread")]
async fn upserting_twice_with_the_same_key_updates_the_one_contact() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (_, token) = hook(
        &app,
        &owner,
        json!({"name": "CRM sync", "action": "upsert", "upsert_key": "email",
               "field_mapping": contact_mapping()}),
    )
    .await;
    let payload = |status: &str| {
        json!({"contact": {"email": "Grace@Example.com", "name": "Grace Hopper",
                           "phones": ["+15551230003"]},
               "meta": {"status": status}})
    };
    let (s, first) = call_json(&app, &token, &payload("new")).await;
    assert_eq!(s, 201, "{first}");
    assert_eq!(first["action"], "created");
    let (s, second) = call_json(&app, &token, &payload("qualified")).await;
    assert_eq!(s, 200, "{second}");
    assert_eq!(second["action"], "updated");
    assert_eq!(second["record_id"], first["record_id"]);

    let (s, found) = app
        .send(app.get_as(&owner.token, "/api/contacts/search?email=grace@example.com"))
        .await;
    assert_eq!(s, 200, "{found}");
    assert_eq!(found["count"], 1, "{found}");
    assert_eq!(found["data"][0]["lead_status"], "qualified");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_update_hook_refuses_records_it_cannot_find_and_writes_ones_it_can() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (_, token) = hook(
        &app,
        &owner,
        json!({"name": "Status feed", "action": "update", "upsert_key": "phone_number",
               "field_mapping": {"who.phone": "phone_number", "who.status": "lead_status"}}),
    )
    .await;
    let (s, b) = call_json(
        &app,
        &token,
        &json!({"who": {"phone": "+15551239999", "status": "won"}}),
    )
    .await;
    assert_eq!(s, 404, "{b}");
    assert_eq!(b["code"], "RECORD_NOT_FOUND");
    assert_eq!(b["details"]["field"], "who.phone");
    assert!(b["error"].as_str().unwrap().contains("+15551239999"), "{b}");

    let (s, c) = app
        .send(app.post_as(&owner.token, "/api/contacts").json(&json!({
            "firstname": "Linus", "lastname": "T", "phone_number": "+15551239999"})))
        .await;
    assert_eq!(s, 201, "{c}");
    let (s, b) = call_json(
        &app,
        &token,
        &json!({"who": {"phone": "+1 555 123 9999", "status": "won"}}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["record_id"], c["data"]["id"]);
    let (_, got) = app
        .send(app.get_as(
            &owner.token,
            &format!("/api/contacts/{}", c["data"]["id"].as_str().unwrap()),
        ))
        .await;
    assert_eq!(got["data"]["lead_status"], "won");
}

#[tokio::test(flavor = "multi_thread")]
async fn field_errors_name_the_payload_path_and_every_call_is_logged() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (created, token) = hook(
        &app,
        &owner,
        json!({"name": "Leads", "field_mapping": contact_mapping()}),
    )
    .await;
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let (s, b) = call_json(
        &app,
        &token,
        &json!({"contact": {"email": "x@example.com", "name": "Bad Phone", "phones": ["12"]}}),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["details"]["field"], "contact.phones.0", "{b}");
    let (s, b) = call_json(
        &app,
        &token,
        &json!({"contact": {"name": "Ada Lovelace", "phones": [{"not": "text"}]}}),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["details"]["field"], "contact.phones.0", "{b}");
    let (s, b) = call(&app, &token, "not json").await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["details"]["field"], "body");
    let (s, ok) = call_json(
        &app,
        &token,
        &json!({"contact": {"name": "Ok Person", "phones": ["+15551230004"]}}),
    )
    .await;
    assert_eq!(s, 201, "{ok}");

    let page = logs(&app, &owner, &id, "").await;
    let entries = page["data"].as_array().unwrap();
    assert_eq!(entries.len(), 4, "{page}");
    // Newest first.
    assert_eq!(entries[0]["status"], "success");
    assert_eq!(entries[0]["response_status"], 201);
    assert_eq!(entries[0]["action"], "created");
    assert_eq!(entries[0]["record_id"], ok["record_id"]);
    assert!(
        entries[0]["payload"]
            .as_str()
            .unwrap()
            .contains("Ok Person")
    );
    assert_eq!(entries[1]["status"], "failed");
    assert_eq!(entries[1]["payload"], "not json");
    assert_eq!(entries[3]["response_status"], 400);
    assert!(
        entries[3]["error"]
            .as_str()
            .unwrap()
            .contains("contact.phones.0"),
        "{page}"
    );
    let first = logs(&app, &owner, &id, "?limit=3").await;
    assert_eq!(first["data"].as_array().unwrap().len(), 3);
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest = logs(&app, &owner, &id, &format!("?limit=3&cursor={cursor}")).await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert_eq!(rest["data"][0]["id"], entries[3]["id"]);
    let (_, got) = app
        .send(app.get_as(&owner.token, &format!("{HOOKS}/{id}")))
        .await;
    assert!(got["data"]["last_received_at"].is_string(), "{got}");
}

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

#[tokio::test(flavor = "multi_thread")]
async fn oversized_bodies_get_413_and_a_hook_takes_60_calls_a_minute() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (created, token) = hook(
        &app,
        &owner,
        json!({"name": "Busy", "field_mapping": contact_mapping()}),
    )
    .await;
    let big = json!({"notes": "x".repeat(300 * 1024)});
    let (s, b) = call_json(&app, &token, &big).await;
    assert_eq!(s, 413, "{b}");
    assert_eq!(b["code"], "PAYLOAD_TOO_LARGE");

    // The oversized call was the first of the minute's 60 (unless the minute turned).
    let mut refused_at = None;
    for n in 2..=121 {
        let (s, b) = call(&app, &token, "not json").await;
        if s == 429 {
            assert_eq!(b["code"], "RATE_LIMIT_EXCEEDED", "{b}");
            refused_at = Some(n);
            break;
        }
        assert_eq!(s, 400, "call {n}: {b}");
    }
    let refused_at = refused_at.expect("the hook never refused a call");
    // 61 unless the calls straddled a minute boundary, which restarts the count.
    assert!(refused_at >= 61, "refused at call {refused_at}");
    let r = app
        .http
        .post(app.url(&format!("/api/v1/webhooks/incoming/{token}")))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait));

    // Refused calls are not logged; every other one is.
    let id = created["data"]["id"].as_str().unwrap();
    let page = logs(&app, &owner, id, "?limit=100").await;
    assert_eq!(
        page["data"].as_array().unwrap().len(),
        refused_at - 1,
        "{}",
        page["data"][0]
    );
    assert_eq!(page["data"][refused_at - 2]["response_status"], 413);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_opportunity_hook_creates_then_upserts_by_id() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let p = pipeline(&app, &owner, json!({"name": "Sales"})).await;
    let stage = p["stages"][0]["id"].as_str().unwrap();
    let won = p["stages"][1]["id"].as_str().unwrap();
    let (created, token) = hook(
        &app,
        &owner,
        json!({"name": "Deals", "module": "opportunity", "action": "upsert",
               "field_mapping": {"deal.id": "id", "deal.title": "title", "deal.stage": "stage_id",
                                 "deal.value": "amount", "deal.labels": "tags"}}),
    )
    .await;
    assert_eq!(created["data"]["upsert_key"], "id");
    let (s, b) = call_json(
        &app,
        &token,
        &json!({"deal": {"title": "Big deal", "stage": stage, "value": "1250.5", "labels": "web, inbound"}}),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["module"], "opportunity");
    let id = b["record_id"].as_str().unwrap().to_owned();
    let (s, b) = call_json(
        &app,
        &token,
        &json!({"deal": {"id": id, "title": "Bigger deal", "value": 2000, "stage": won}}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["record_id"], id.as_str());
    let (s, o) = app
        .send(app.get_as(&owner.token, &format!("/api/pipeline/opportunities/{id}")))
        .await;
    assert_eq!(s, 200, "{o}");
    assert_eq!(o["data"]["title"], "Bigger deal");
    assert_eq!(o["data"]["amount"], 2000.0);
    assert_eq!(
        o["data"]["stage_id"], won,
        "a mapped stage moves the opportunity"
    );
    let mut tags: Vec<&str> = o["data"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    tags.sort();
    assert_eq!(tags, ["inbound", "web"]);
    // A missing stage is named: the sender learns the hook needs one.
    let (s, b) = call_json(&app, &token, &json!({"deal": {"title": "No stage"}})).await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["details"]["field"], "stage_id", "{b}");
}
