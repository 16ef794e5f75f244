//! Creating contacts: the seed's answers, each field's validation, duplicate phones.

use super::*;
use crate::helpers::TestApp;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn create_answers_like_the_seed_and_validates_each_field() {
    let app = TestApp::spawn().await;
    let a = app.owner("Alpha").await;

    let (s, b) = create(
        &app,
        &a.token,
        json!({
            "workspace_id": "05084",
            "firstname": "John",
            "lastname": "Smith",
            "phone_number": "+15551234567",
            "email": "John.Smith@Example.com",
            "lead_status": "new",
            "lead_source": "website",
            "tags": ["new", "website", "summer-campaign"],
            "notes": "Interested in kitchen renovation",
            "timezone": "America/New_York",
            "follow_up_date": "2025-08-01",
            "priority": "HIGH"
        }),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["success"], true);
    assert_eq!(b["message"], "Contact created successfully");
    let d = &b["data"];
    assert_eq!(d["name"], "John Smith");
    assert_eq!(d["firstname"], "John");
    assert_eq!(d["lastname"], "Smith");
    assert_eq!(d["phone_number"], "+15551234567");
    // The body's workspace_id is ignored: the caller's own workspace wins.
    assert_eq!(d["workspace_id"], a.workspace_id.as_str());
    assert_eq!(d["email"], "john.smith@example.com");
    assert_eq!(d["lead_status"], "new");
    assert_eq!(d["lead_source"], "website");
    assert_eq!(d["tags"], json!(["new", "website", "summer-campaign"]));
    assert_eq!(d["notes"], "Interested in kitchen renovation");
    assert_eq!(d["timezone"], "America/New_York");
    assert_eq!(d["follow_up_date"], "2025-08-01");
    assert_eq!(d["priority"], "high");
    assert_eq!(d["product"], Value::Null);
    assert_eq!(d["company_id"], Value::Null);
    assert!(d["created_at"].as_str().unwrap().starts_with("20"), "{d}");
    uuid::Uuid::parse_str(d["id"].as_str().unwrap()).unwrap();

    // Missing required fields: the seed's message, every missing field named in order.
    let (s, b) = create(
        &app,
        &a.token,
        json!({"workspace_id": "05084", "phone_number": "+15550000001"}),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["success"], false);
    assert_eq!(b["error"], "Missing required fields: firstname, lastname");
    assert_eq!(b["details"]["field"], "firstname");
    assert_eq!(violations(&b), ["firstname", "lastname"]);
    let (s, b) = create(&app, &a.token, json!({"firstname": "  "})).await;
    assert_eq!(s, 400);
    assert_eq!(
        b["error"],
        "Missing required fields: firstname, lastname, phone_number"
    );
    assert_eq!(violations(&b), ["firstname", "lastname", "phone_number"]);

    let base = json!({"firstname": "Ann", "lastname": "Lee", "phone_number": "+15550000002"});
    let with = |key: &str, value: Value| {
        let mut body = base.clone();
        body[key] = value;
        app.post_as(&a.token, "/api/contacts").json(&body)
    };
    refused(
        &app,
        with("phone_number", json!("555-1234")),
        "phone_number",
    )
    .await;
    refused(&app, with("phone_number", json!("call me")), "phone_number").await;
    refused(&app, with("timezone", json!("Mars/Olympus")), "timezone").await;
    refused(&app, with("timezone", json!("EST5")), "timezone").await;
    refused(&app, with("email", json!("ann-at-example.com")), "email").await;
    refused(&app, with("email", json!("ann@example")), "email").await;
    refused(&app, with("priority", json!("urgent")), "priority").await;
    refused(
        &app,
        with("follow_up_date", json!("08/01/2025")),
        "follow_up_date",
    )
    .await;
    refused(&app, with("firstname", json!("x".repeat(101))), "firstname").await;
    refused(&app, with("lastname", json!("x".repeat(101))), "lastname").await;
    refused(&app, with("notes", json!("x".repeat(5001))), "notes").await;
    refused(
        &app,
        with("company_id", json!(uuid::Uuid::new_v4().to_string())),
        "company_id",
    )
    .await;
    // Nothing refused was stored: the number is still free.
    let (_, found) = app
        .send(app.get_as(&a.token, "/api/contacts/search?phone=%2B15550000002"))
        .await;
    assert_eq!(found["count"], 0, "{found}");

    // Limits are inclusive; a company of the workspace can be referenced.
    let (s, company) = app
        .send(app.post_as(&a.token, "/api/companies").json(
            &json!({"name": "Acme", "industry": "Construction", "website": "https://acme.test"}),
        ))
        .await;
    assert_eq!(s, 201, "{company}");
    let company_id = company["data"]["id"].as_str().unwrap().to_owned();
    let (s, got) = app
        .send(app.get_as(&a.token, &format!("/api/companies/{company_id}")))
        .await;
    assert_eq!(s, 200, "{got}");
    assert_eq!(got["data"]["name"], "Acme");
    assert_eq!(got["data"]["industry"], "Construction");
    let (s, b) = app
        .send(app.post_as(&a.token, "/api/contacts").json(&json!({
            "firstname": "x".repeat(100),
            "lastname": "Lee",
            "phone_number": "555 000 0002",
            "notes": "n".repeat(5000),
            "company_id": company_id,
            "timezone": "Europe/London"
        })))
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["data"]["company_id"], company_id.as_str());
    assert_eq!(b["data"]["phone_number"], "+15550000002");
    assert_eq!(b["data"]["timezone"], "Europe/London");
    assert_eq!(b["data"]["tags"], json!([]));

    // Another workspace's company cannot be referenced.
    let other = app.owner("Other").await;
    let (s, b) = create(
        &app,
        &other.token,
        json!({"firstname": "Ann", "lastname": "Lee", "phone_number": "+15550000003", "company_id": company_id}),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["details"]["field"], "company_id");
    let (s, _) = app
        .send(app.get_as(&other.token, &format!("/api/companies/{company_id}")))
        .await;
    assert_eq!(s, 404);
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_duplicate_phone_is_a_409_naming_the_contact_that_has_it() {
    let app = TestApp::spawn().await;
    let a = app.owner("Alpha").await;
    let b = app.owner("Beta").await;
    let john = contact(
        &app,
        &a.token,
        json!({"firstname": "John", "lastname": "Smith", "phone_number": "+15551234567"}),
    )
    .await;

    // The same number written another way is the same number.
    for written in [
        "(555) 123-4567",
        "+15551234567",
        "555.123.4567",
        "1-555-123-4567",
    ] {
        let (s, body) = create(
            &app,
            &a.token,
            json!({"firstname": "Jim", "lastname": "Smith", "phone_number": written}),
        )
        .await;
        assert_eq!(s, 409, "{written}: {body}");
        assert_eq!(body["success"], false);
        assert_eq!(
            body["error"],
            "A contact with this phone number already exists in this workspace"
        );
        assert_eq!(body["contact_id"], john.as_str(), "{body}");
    }
    // Another workspace may hold the same number.
    contact(
        &app,
        &b.token,
        json!({"firstname": "John", "lastname": "Smith", "phone_number": "(555) 123-4567"}),
    )
    .await;

    // Changing another contact's number to a taken one is refused the same way.
    let jane = contact(
        &app,
        &a.token,
        json!({"firstname": "Jane", "lastname": "Doe", "phone_number": "+15559876543"}),
    )
    .await;
    let (s, body) = app
        .send(
            app.put_as(&a.token, &format!("/api/contacts/{jane}"))
                .json(&json!({"phone_number": "555 123 4567"})),
        )
        .await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(body["contact_id"], john.as_str());
    // Writing one's own number differently is no conflict.
    let (s, body) = app
        .send(
            app.put_as(&a.token, &format!("/api/contacts/{jane}"))
                .json(&json!({"phone_number": "(555) 987-6543"})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["data"]["phone_number"], "+15559876543");

    // Concurrent creates of one new number: one wins, the others name the winner.
    let attempts: Vec<_> = (0..5)
        .map(|i| {
            let request = app.post_as(&a.token, "/api/contacts").json(&json!({
                "firstname": format!("Racer{i}"), "lastname": "X", "phone_number": "+15557770000"
            }));
            tokio::spawn(async move {
                let r = request.send().await.unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut results = Vec::new();
    for attempt in attempts {
        results.push(attempt.await.unwrap());
    }
    let winners: Vec<String> = results
        .iter()
        .filter(|(s, _)| *s == 201)
        .map(|(_, b)| b["data"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for (s, body) in results.iter().filter(|(s, _)| *s != 201) {
        assert_eq!(*s, 409, "{body}");
        assert_eq!(body["contact_id"], winners[0].as_str(), "{body}");
    }

    // Deleting frees the number.
    let (s, body) = app
        .send(app.delete_as(&a.token, &format!("/api/contacts/{john}")))
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["message"], "Contact 'John Smith' deleted successfully");
    let (s, body) = create(
        &app,
        &a.token,
        json!({"firstname": "Johnny", "lastname": "Smith", "phone_number": "+1 555 123 4567"}),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    assert_ne!(body["data"]["id"], john.as_str());
    app.stack.stop().await;
}
