//! Tags through the gateway: the catalog's CRUD, the eight colors, names unique per workspace
//! ignoring case, list filters and paging, usage counts from records, renames following
//! records, workspace isolation and scopes.

use crate::helpers::TestApp;
use serde_json::{Value, json};

async fn tag(app: &TestApp, token: &str, body: Value) -> Value {
    let (s, b) = app.send(app.post_as(token, "/api/tags").json(&body)).await;
    assert_eq!(s, 201, "{b}");
    b["data"].clone()
}

async fn contact(app: &TestApp, token: &str, phone: &str, tags: Value) -> String {
    let (s, b) = app
        .send(app.post_as(token, "/api/contacts").json(&json!({
            "firstname": "T", "lastname": "Carrier", "phone_number": phone, "tags": tags
        })))
        .await;
    assert_eq!(s, 201, "{b}");
    b["data"]["id"].as_str().unwrap().to_owned()
}

fn names(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data in {body}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn refused(app: &TestApp, request: reqwest::RequestBuilder, field: &str) {
    let (s, b) = app.send(request).await;
    assert_eq!(s, 400, "{field}: {b}");
    assert_eq!(b["details"]["field"], field, "{b}");
}

#[tokio::test(flavor = "multi_thread")]
async fn tags_are_created_updated_and_deleted_with_unique_names() {
    let app = TestApp::spawn().await;
    let a = app.owner("Alpha").await;
    let b = app.owner("Beta").await;

    let vip = tag(
        &app,
        &a.token,
        json!({"name": "VIP Customer", "color": "purple",
               "description": "High-value customers requiring special attention"}),
    )
    .await;
    assert_eq!(vip["name"], "VIP Customer");
    assert_eq!(vip["color"], "purple");
    assert_eq!(
        vip["description"],
        "High-value customers requiring special attention"
    );
    assert_eq!(vip["workspace_id"], a.workspace_id.as_str());
    assert_eq!(vip["usage_count"], 0);
    assert!(vip["created_at"].is_string());
    let vip_id = vip["id"].as_str().unwrap().to_owned();
    let plain = tag(&app, &a.token, json!({"name": "Plain"})).await;
    assert_eq!(plain["color"], "blue", "the default color");
    assert_eq!(plain["description"], Value::Null);

    // Names are unique per workspace, ignoring case.
    let (s, body) = app
        .send(
            app.post_as(&a.token, "/api/tags")
                .json(&json!({"name": "vip customer"})),
        )
        .await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(
        body["error"],
        "A tag named 'vip customer' already exists in this workspace"
    );
    // ...but another workspace may use the name.
    let b_vip = tag(
        &app,
        &b.token,
        json!({"name": "VIP Customer", "color": "red"}),
    )
    .await;
    let b_vip_id = b_vip["id"].as_str().unwrap().to_owned();

    let post = |body: Value| app.post_as(&a.token, "/api/tags").json(&body);
    refused(
        &app,
        post(json!({"name": "Pink-ish", "color": "magenta"})),
        "color",
    )
    .await;
    refused(&app, post(json!({"color": "green"})), "name").await;
    refused(&app, post(json!({"name": "   "})), "name").await;
    refused(&app, post(json!({"name": "x".repeat(51)})), "name").await;
    for color in [
        "green", "blue", "purple", "orange", "red", "cyan", "pink", "teal",
    ] {
        let t = tag(
            &app,
            &a.token,
            json!({"name": format!("Color {color}"), "color": color}),
        )
        .await;
        assert_eq!(t["color"], color);
    }
    tag(&app, &a.token, json!({"name": "x".repeat(50)})).await;

    // Updates: color and description; a name taken by another tag is a 409; a new casing of
    // its own name is fine.
    let path = format!("/api/tags/{vip_id}");
    let (s, body) = app
        .send(
            app.put_as(&a.token, &path)
                .json(&json!({"color": "TEAL", "description": "Top accounts"})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["data"]["color"], "teal");
    assert_eq!(body["data"]["description"], "Top accounts");
    assert_eq!(body["data"]["name"], "VIP Customer");
    let (s, body) = app
        .send(app.put_as(&a.token, &path).json(&json!({"name": "PLAIN"})))
        .await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(
        body["error"],
        "A tag named 'PLAIN' already exists in this workspace"
    );
    let (s, body) = app
        .send(
            app.put_as(&a.token, &path)
                .json(&json!({"name": "VIP customer"})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["data"]["name"], "VIP customer");
    refused(
        &app,
        app.put_as(&a.token, &path).json(&json!({"color": "black"})),
        "color",
    )
    .await;
    refused(
        &app,
        app.put_as(&a.token, &path).json(&json!({"name": ""})),
        "name",
    )
    .await;

    // Another workspace's tag is not found, whoever asks and however.
    let b_path = format!("/api/tags/{b_vip_id}");
    let (_, a_key) = app
        .key(&a.token, &["tags:read", "tags:write", "tags:delete"])
        .await;
    for request in [
        app.put_as(&a.token, &b_path)
            .json(&json!({"color": "green"})),
        app.delete_as(&a.token, &b_path),
        app.http
            .put(app.url(&b_path))
            .header("x-api-key", &a_key)
            .json(&json!({"name": "Pwned"})),
        app.http
            .delete(app.url(&b_path))
            .header("x-api-key", &a_key),
        app.delete_as(&a.token, "/api/tags/not-a-uuid"),
    ] {
        let (s, body) = app.send(request).await;
        assert_eq!(s, 404, "{body}");
    }
    let (_, b_list) = app.send(app.get_as(&b.token, "/api/tags")).await;
    assert_eq!(names(&b_list), ["VIP Customer"]);
    assert_eq!(b_list["data"][0]["color"], "red", "Beta's tag is untouched");
    let (_, a_list) = app.get_with_key("/api/tags?search=vip", &a_key).await;
    assert_eq!(names(&a_list), ["VIP customer"], "Alpha lists only its own");

    // Delete, then the name is free again.
    let (s, body) = app.send(app.delete_as(&a.token, &path)).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["message"], "Tag 'VIP customer' deleted successfully");
    let (s, _) = app.send(app.delete_as(&a.token, &path)).await;
    assert_eq!(s, 404);
    let (s, _) = app
        .send(app.put_as(&a.token, &path).json(&json!({"color": "green"})))
        .await;
    assert_eq!(s, 404);
    tag(&app, &a.token, json!({"name": "vip customer"})).await;

    // Scopes: tags:read lists but does not write; contacts scopes do not reach tags.
    let (_, read_key) = app.key(&a.token, &["tags:read"]).await;
    let (s, _) = app.get_with_key("/api/tags", &read_key).await;
    assert_eq!(s, 200);
    let (s, _) = app
        .send(
            app.http
                .post(app.url("/api/tags"))
                .header("x-api-key", &read_key)
                .json(&json!({"name": "Nope"})),
        )
        .await;
    assert_eq!(s, 403);
    let (_, contacts_key) = app.key(&a.token, &["contacts:read"]).await;
    let (s, _) = app.get_with_key("/api/tags", &contacts_key).await;
    assert_eq!(s, 403);
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_list_filters_pages_and_counts_usage() {
    let app = TestApp::spawn().await;
    let a = app.owner("Alpha").await;
    let b = app.owner("Beta").await;
    for (name, color) in [
        ("Partner", "green"),
        ("Hot Lead", "red"),
        ("Lead Magnet", "green"),
        ("Cold Lead", "blue"),
        ("100%_done", "cyan"),
    ] {
        tag(&app, &a.token, json!({"name": name, "color": color})).await;
    }
    contact(
        &app,
        &a.token,
        "+15550000001",
        json!(["hot lead", "Partner"]),
    )
    .await;
    let second = contact(
        &app,
        &a.token,
        "+15550000002",
        json!(["Hot Lead", "untracked"]),
    )
    .await;
    contact(&app, &a.token, "+15550000003", json!([])).await;
    // Beta's records and tags never count for Alpha.
    tag(&app, &b.token, json!({"name": "Hot Lead", "color": "red"})).await;
    contact(
        &app,
        &b.token,
        "+15550000001",
        json!(["Hot Lead", "Partner"]),
    )
    .await;

    let list = |query: &str| app.send(app.get_as(&a.token, &format!("/api/tags{query}")));
    let (s, body) = list("").await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(
        names(&body),
        [
            "100%_done",
            "Cold Lead",
            "Hot Lead",
            "Lead Magnet",
            "Partner"
        ]
    );
    let usage: Vec<i64> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["usage_count"].as_i64().unwrap())
        .collect();
    assert_eq!(usage, [0, 0, 2, 0, 1]);
    assert_eq!(
        body["pagination"],
        json!({"limit": 50, "offset": 0, "total": 5})
    );

    for (query, expected, total) in [
        (
            "?search=lead",
            vec!["Cold Lead", "Hot Lead", "Lead Magnet"],
            3,
        ),
        ("?search=LEAD&color=green", vec!["Lead Magnet"], 1),
        ("?color=green", vec!["Lead Magnet", "Partner"], 2),
        ("?color=GREEN", vec!["Lead Magnet", "Partner"], 2),
        ("?color=teal", vec![], 0),
        ("?search=%25", vec!["100%_done"], 1),
        ("?search=_", vec!["100%_done"], 1),
        ("?search=zzz", vec![], 0),
        ("?limit=2", vec!["100%_done", "Cold Lead"], 5),
        ("?limit=2&offset=2", vec!["Hot Lead", "Lead Magnet"], 5),
        ("?limit=2&offset=4", vec!["Partner"], 5),
        ("?offset=5", vec![], 5),
        ("?search=lead&limit=1&offset=1", vec!["Hot Lead"], 3),
        (
            "?limit=100",
            vec![
                "100%_done",
                "Cold Lead",
                "Hot Lead",
                "Lead Magnet",
                "Partner",
            ],
            5,
        ),
    ] {
        let (s, body) = list(query).await;
        assert_eq!(s, 200, "{query}: {body}");
        assert_eq!(names(&body), expected, "{query}");
        assert_eq!(body["pagination"]["total"], total, "{query}");
    }
    let (_, body) = list("?limit=2&offset=2").await;
    assert_eq!(
        body["pagination"],
        json!({"limit": 2, "offset": 2, "total": 5})
    );
    assert_eq!(
        body["data"][0]["usage_count"], 2,
        "usage is counted on every page"
    );
    for (query, field) in [
        ("?color=magenta", "color"),
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?offset=-1", "offset"),
    ] {
        refused(
            &app,
            app.get_as(&a.token, &format!("/api/tags{query}")),
            field,
        )
        .await;
    }

    // Beta's count of its own "Hot Lead" sees only its own contact.
    let (_, body) = app.send(app.get_as(&b.token, "/api/tags")).await;
    assert_eq!(names(&body), ["Hot Lead"]);
    assert_eq!(body["data"][0]["usage_count"], 1);

    // Retagging or deleting a contact changes the counts.
    let (s, _) = app
        .send(
            app.put_as(&a.token, &format!("/api/contacts/{second}"))
                .json(&json!({"tags": ["partner"]})),
        )
        .await;
    assert_eq!(s, 200);
    let (_, body) = list("?search=e").await;
    let counts: Vec<(String, i64)> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_owned(),
                t["usage_count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            ("100%_done".to_owned(), 0),
            ("Cold Lead".to_owned(), 0),
            ("Hot Lead".to_owned(), 1),
            ("Lead Magnet".to_owned(), 0),
            ("Partner".to_owned(), 2)
        ]
    );
    let (s, _) = app
        .send(app.delete_as(&a.token, &format!("/api/contacts/{second}")))
        .await;
    assert_eq!(s, 200);
    let (_, body) = list("?search=partner").await;
    assert_eq!(body["data"][0]["usage_count"], 1);
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn renaming_a_tag_renames_it_on_records() {
    let app = TestApp::spawn().await;
    let a = app.owner("Alpha").await;
    let prospect = tag(
        &app,
        &a.token,
        json!({"name": "Prospect", "color": "orange"}),
    )
    .await;
    let path = format!("/api/tags/{}", prospect["id"].as_str().unwrap());
    let one = contact(
        &app,
        &a.token,
        "+15550000001",
        json!(["prospect", "website"]),
    )
    .await;
    // This one already carries the new name as well: it must end with it once.
    let two = contact(
        &app,
        &a.token,
        "+15550000002",
        json!(["Prospect", "client"]),
    )
    .await;
    let other = contact(&app, &a.token, "+15550000003", json!(["website"])).await;

    let (s, body) = app
        .send(app.put_as(&a.token, &path).json(&json!({"name": "Client"})))
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["data"]["name"], "Client");
    assert_eq!(body["data"]["color"], "orange");
    assert_eq!(body["data"]["usage_count"], 2);

    let tags_of = |id: String| app.send(app.get_as(&a.token, &format!("/api/contacts/{id}")));
    assert_eq!(
        tags_of(one.clone()).await.1["data"]["tags"],
        json!(["Client", "website"])
    );
    let two_tags = tags_of(two.clone()).await.1["data"]["tags"].clone();
    assert_eq!(two_tags.as_array().unwrap().len(), 1, "{two_tags}");
    assert!(two_tags[0].as_str().unwrap().eq_ignore_ascii_case("client"));
    assert_eq!(tags_of(other).await.1["data"]["tags"], json!(["website"]));

    let search = |tag: &str| {
        app.send(app.get_as(
            &a.token,
            &format!("/api/contacts/enhanced-search?tag={tag}"),
        ))
    };
    let (_, body) = search("client").await;
    assert_eq!(body["count"], 2, "{body}");
    let (_, body) = search("prospect").await;
    assert_eq!(body["count"], 0, "{body}");

    // Renaming onto another catalog tag's name is refused and changes nothing.
    tag(&app, &a.token, json!({"name": "Website"})).await;
    let (s, _) = app
        .send(
            app.put_as(&a.token, &path)
                .json(&json!({"name": "WEBSITE"})),
        )
        .await;
    assert_eq!(s, 409);
    assert_eq!(
        tags_of(one.clone()).await.1["data"]["tags"],
        json!(["Client", "website"])
    );

    // Deleting the tag leaves records carrying its name.
    let (s, body) = app.send(app.delete_as(&a.token, &path)).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["message"], "Tag 'Client' deleted successfully");
    assert_eq!(
        tags_of(one).await.1["data"]["tags"],
        json!(["Client", "website"])
    );
    app.stack.stop().await;
}
