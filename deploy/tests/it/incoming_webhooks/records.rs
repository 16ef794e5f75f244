//! What a call writes through the hook's field mapping, in the hook's workspace only:
//! contacts created, upserted or updated; opportunities created, then upserted by id.

use super::{HOOKS, call_json, contact_mapping, hook};
use crate::helpers::TestApp;
use crate::pipelines::pipeline;
use serde_json::json;

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
