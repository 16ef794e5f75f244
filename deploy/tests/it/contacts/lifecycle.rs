//! Reading, updating and deleting a contact; other workspaces and missing scopes.

use super::*;
use crate::helpers::TestApp;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn get_update_and_delete_a_contact() {
    let app = TestApp::spawn().await;
    let a = app.owner("Alpha").await;
    let id = contact(
        &app,
        &a.token,
        json!({"firstname": "John", "lastname": "Smith", "phone_number": "+15551234567",
               "tags": ["new", "website"], "notes": "first call", "timezone": "America/Chicago",
               "city": "Austin"}),
    )
    .await;
    let path = format!("/api/contacts/{id}");

    let (s, body) = app.send(app.get_as(&a.token, &path)).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["data"]["id"], id.as_str());
    assert_eq!(body["data"]["tags"], json!(["new", "website"]));
    assert_eq!(body["data"]["timezone"], "America/Chicago");

    // Present fields change, `tags` replaces, "" clears an optional field, absent ones stay.
    let (s, body) = app
        .send(app.put_as(&a.token, &path).json(&json!({
            "firstname": "Johnny", "lead_status": "qualified", "notes": "",
            "tags": ["VIP"], "email": "Johnny@Example.com", "timezone": "Europe/Paris",
            "follow_up_date": "2025-09-30", "priority": "low"
        })))
        .await;
    assert_eq!(s, 200, "{body}");
    let d = &body["data"];
    assert_eq!(d["name"], "Johnny Smith");
    assert_eq!(d["lead_status"], "qualified");
    assert_eq!(d["notes"], Value::Null);
    assert_eq!(d["city"], "Austin");
    assert_eq!(d["tags"], json!(["VIP"]));
    assert_eq!(d["email"], "johnny@example.com");
    assert_eq!(d["timezone"], "Europe/Paris");
    assert_eq!(d["follow_up_date"], "2025-09-30");
    assert_eq!(d["priority"], "low");
    let (_, got) = app.send(app.get_as(&a.token, &path)).await;
    assert_eq!(
        got["data"], body["data"],
        "what the update returns is what is stored"
    );
    let tagged = |tag: &str| {
        app.send(app.get_as(
            &a.token,
            &format!("/api/contacts/enhanced-search?tag={tag}"),
        ))
    };
    assert_eq!(tagged("website").await.1["count"], 0);
    assert_eq!(tagged("vip").await.1["count"], 1);

    // Without `tags` the tags stay; an empty array clears them.
    let (_, body) = app
        .send(
            app.put_as(&a.token, &path)
                .json(&json!({"lastname": "Smyth"})),
        )
        .await;
    assert_eq!(body["data"]["tags"], json!(["VIP"]));
    assert_eq!(body["data"]["name"], "Johnny Smyth");
    let (_, body) = app
        .send(app.put_as(&a.token, &path).json(&json!({"tags": []})))
        .await;
    assert_eq!(body["data"]["tags"], json!([]));

    for (change, field) in [
        (json!({"timezone": "Nowhere/Land"}), "timezone"),
        (json!({"firstname": ""}), "firstname"),
        (json!({"phone_number": "12"}), "phone_number"),
        (json!({"email": "nope"}), "email"),
        (json!({"notes": "x".repeat(5001)}), "notes"),
        (json!({"tags": [1, 2]}), "tags"),
    ] {
        refused(&app, app.put_as(&a.token, &path).json(&change), field).await;
    }
    let (_, body) = app.send(app.get_as(&a.token, &path)).await;
    assert_eq!(
        body["data"]["timezone"], "Europe/Paris",
        "refused updates change nothing"
    );

    // Ids that name no contact of the workspace, malformed ones included, are not found.
    for missing in [uuid::Uuid::new_v4().to_string(), "not-a-uuid".to_owned()] {
        let (s, body) = app
            .send(app.get_as(&a.token, &format!("/api/contacts/{missing}")))
            .await;
        assert_eq!(s, 404, "{body}");
        assert_eq!(body["code"], "NOT_FOUND");
    }

    let (s, body) = app.send(app.delete_as(&a.token, &path)).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        body["message"],
        "Contact 'Johnny Smyth' deleted successfully"
    );
    for request in [
        app.get_as(&a.token, &path),
        app.put_as(&a.token, &path)
            .json(&json!({"firstname": "Ghost"})),
        app.delete_as(&a.token, &path),
    ] {
        let (s, body) = app.send(request).await;
        assert_eq!(s, 404, "{body}");
    }
    let (_, body) = app
        .send(app.get_as(&a.token, &format!("/api/contacts/search?id={id}")))
        .await;
    assert_eq!(body["count"], 0, "a deleted contact is not found by search");
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn other_workspaces_and_missing_scopes_are_refused() {
    let app = TestApp::spawn().await;
    let a = app.owner("Alpha").await;
    let b = app.owner("Beta").await;
    let id = contact(
        &app,
        &a.token,
        json!({"firstname": "John", "lastname": "Smith", "phone_number": "+15551234567"}),
    )
    .await;
    let path = format!("/api/contacts/{id}");
    let (_, b_key) = app
        .key(
            &b.token,
            &["contacts:read", "contacts:write", "contacts:delete"],
        )
        .await;

    // Beta's token and Beta's key find nothing of Alpha's.
    for request in [
        app.get_as(&b.token, &path),
        app.put_as(&b.token, &path)
            .json(&json!({"firstname": "Pwned"})),
        app.delete_as(&b.token, &path),
        app.http.get(app.url(&path)).header("x-api-key", &b_key),
        app.http
            .put(app.url(&path))
            .header("x-api-key", &b_key)
            .json(&json!({"firstname": "Pwned"})),
        app.http.delete(app.url(&path)).header("x-api-key", &b_key),
    ] {
        let (s, body) = app.send(request).await;
        assert_eq!(s, 404, "{body}");
        assert_eq!(body["code"], "NOT_FOUND");
    }
    let (s, body) = app
        .get_with_key(&format!("/api/contacts/search?id={id}"), &b_key)
        .await;
    assert_eq!(s, 200);
    assert_eq!(body["count"], 0);
    let (_, body) = app
        .get_with_key(
            &format!("/api/contacts/enhanced-search?contact_id={id}"),
            &b_key,
        )
        .await;
    assert_eq!(body["count"], 0);
    // Beta's key creates in Beta, whatever workspace_id the body names.
    let (s, body) = app
        .send(
            app.http
                .post(app.url("/api/contacts"))
                .header("x-api-key", &b_key)
                .json(&json!({"workspace_id": a.workspace_id, "firstname": "Eve",
                              "lastname": "B", "phone_number": "+15551234567"})),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["data"]["workspace_id"], b.workspace_id.as_str());

    let (_, body) = app.send(app.get_as(&a.token, &path)).await;
    assert_eq!(
        body["data"]["name"], "John Smith",
        "Alpha's contact is untouched"
    );

    // A read-only key reads but neither writes nor deletes.
    let (_, read_key) = app.key(&a.token, &["contacts:read"]).await;
    let (s, body) = app.get_with_key(&path, &read_key).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["data"]["id"], id.as_str());
    let (s, body) = app
        .send(
            app.http
                .post(app.url("/api/contacts"))
                .header("x-api-key", &read_key)
                .json(
                    &json!({"firstname": "Ann", "lastname": "Lee", "phone_number": "+15550000009"}),
                ),
        )
        .await;
    assert_eq!(s, 403, "{body}");
    let (s, _) = app
        .send(
            app.http
                .delete(app.url(&path))
                .header("x-api-key", &read_key),
        )
        .await;
    assert_eq!(s, 403);
    let (_, write_key) = app.key(&a.token, &["contacts:write"]).await;
    let (s, _) = app.get_with_key(&path, &write_key).await;
    assert_eq!(s, 403, "contacts:write does not grant reads");
    let (s, _) = app.get_with_key(&path, &read_key).await;
    assert_eq!(s, 200, "the contact survived");
    app.stack.stop().await;
}
