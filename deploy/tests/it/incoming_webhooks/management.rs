//! Managing hooks: create, read, list, update and delete; the token shown once and
//! regenerated at once; inactive and deleted hooks; the scope a key needs.

use super::{HOOKS, call_json, hook};
use crate::helpers::TestApp;
use serde_json::json;

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
