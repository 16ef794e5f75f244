//! Contacts through the gateway: create with the seed's messages, duplicate phones (E.164),
//! basic and enhanced search with every parameter and their limits, get/update/delete,
//! workspace isolation and scopes.

use crate::helpers::{TestApp, within};
use crm_platform::{Principal, principal::PrincipalVerifier};
use crm_proto::webhooks::{
    ListReceivedEventsRequest, event_sink_service_client::EventSinkServiceClient,
};
use serde_json::{Value, json};
use std::time::Duration;

async fn create(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    app.send(app.post_as(token, "/api/contacts").json(&body))
        .await
}

/// Creates a contact that must succeed; returns its id.
async fn contact(app: &TestApp, token: &str, body: Value) -> String {
    let (s, b) = create(app, token, body).await;
    assert_eq!(s, 201, "{b}");
    b["data"]["id"].as_str().unwrap().to_owned()
}

fn ids(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data in {body}"))
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

fn violations(body: &Value) -> Vec<String> {
    body["details"]["field_violations"]
        .as_array()
        .unwrap_or_else(|| panic!("no field violations in {body}"))
        .iter()
        .map(|v| v["field"].as_str().unwrap().to_owned())
        .collect()
}

/// Asserts a 400 naming `field`.
async fn refused(app: &TestApp, request: reqwest::RequestBuilder, field: &str) {
    let (s, b) = app.send(request).await;
    assert_eq!(s, 400, "{field}: {b}");
    assert_eq!(b["success"], false);
    assert_eq!(b["details"]["field"], field, "{b}");
}

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

#[tokio::test(flavor = "multi_thread")]
async fn basic_search_matches_each_parameter_in_the_callers_workspace_only() {
    let app = TestApp::spawn().await;
    let a = app.owner("Alpha").await;
    let b = app.owner("Beta").await;
    let john = contact(
        &app,
        &a.token,
        json!({"firstname": "John", "lastname": "Smith", "phone_number": "+15551234567",
               "email": "john.smith@example.com", "tags": ["vip"]}),
    )
    .await;
    let jane = contact(
        &app,
        &a.token,
        json!({"firstname": "Jane", "lastname": "Smithers", "phone_number": "+15559876543",
               "email": "jane@example.com"}),
    )
    .await;
    let bob = contact(
        &app,
        &a.token,
        json!({"firstname": "Bob", "lastname": "Jones", "phone_number": "+44 7911 123456"}),
    )
    .await;
    // Beta has a John Smith with the same number and email.
    let b_john = contact(
        &app,
        &b.token,
        json!({"firstname": "John", "lastname": "Smith", "phone_number": "+15551234567",
               "email": "john.smith@example.com"}),
    )
    .await;

    let search =
        |query: &str| app.send(app.get_as(&a.token, &format!("/api/contacts/search?{query}")));
    for (query, expected) in [
        ("phone=%2B15551234567", vec![john.clone()]),
        // The seed's own example: an unencoded `+` arrives as a space.
        ("phone=+15551234567", vec![john.clone()]),
        ("phone=%28555%29%20123-4567", vec![john.clone()]),
        ("phone=%2B447911123456", vec![bob.clone()]),
        ("phone=%2B15550000000", vec![]),
        ("email=JOHN.SMITH%40EXAMPLE.COM", vec![john.clone()]),
        ("email=smith%40example.com", vec![]),
        ("firstname=jan", vec![jane.clone()]),
        ("lastname=SMITH", vec![jane.clone(), john.clone()]),
        ("firstname=jo&lastname=smith", vec![john.clone()]),
        ("firstname=%25", vec![]),
        ("firstname=_", vec![]),
        (&format!("id={bob}"), vec![bob.clone()]),
        (&format!("id={b_john}"), vec![]),
        // The caller's workspace wins over a workspace_id parameter.
        (
            &format!("workspace_id={}&lastname=smith", b.workspace_id),
            vec![jane.clone(), john.clone()],
        ),
        ("lastname=s&limit=1", vec![bob.clone()]),
        (
            "lastname=s&limit=100",
            vec![bob.clone(), jane.clone(), john.clone()],
        ),
    ] {
        let (s, body) = search(query).await;
        assert_eq!(s, 200, "{query}: {body}");
        assert_eq!(body["success"], true);
        assert_eq!(ids(&body), expected, "{query}: {body}");
        assert_eq!(body["count"], expected.len(), "{query}");
    }
    let (_, body) = search("phone=5551234567").await;
    assert_eq!(body["data"][0]["tags"], json!(["vip"]));
    assert_eq!(body["data"][0]["name"], "John Smith");
    assert_eq!(body["data"][0]["workspace_id"], a.workspace_id.as_str());

    for query in ["", "workspace_id=05084", "phone=&email="] {
        let (s, body) = search(query).await;
        assert_eq!(s, 400, "{query}: {body}");
        assert_eq!(
            body["error"],
            "At least one search parameter is required: id, phone, email, firstname, or lastname"
        );
    }
    for (query, field) in [
        ("lastname=s&limit=0", "limit"),
        ("lastname=s&limit=101", "limit"),
        ("phone=abc", "phone"),
    ] {
        refused(
            &app,
            app.get_as(&a.token, &format!("/api/contacts/search?{query}")),
            field,
        )
        .await;
    }

    // Beta sees only its own.
    let (_, body) = app
        .send(app.get_as(&b.token, "/api/contacts/search?lastname=smith"))
        .await;
    assert_eq!(ids(&body), vec![b_john]);
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn enhanced_search_filters_pages_and_counts() {
    let app = TestApp::spawn().await;
    let a = app.owner("Alpha").await;
    let b = app.owner("Beta").await;
    let mut created = Vec::new();
    for (i, (status, tags, follow_up, webhook)) in [
        (
            "new",
            json!(["VIP", "website"]),
            "2025-08-01",
            "facebook-leads",
        ),
        ("new", json!(["website"]), "2025-08-02", ""),
        ("qualified", json!(["vip"]), "", "facebook-leads"),
        ("new", json!([]), "2025-08-01", ""),
        ("Qualified", json!([]), "", ""),
    ]
    .into_iter()
    .enumerate()
    {
        let mut body = json!({
            "firstname": format!("C{i}"), "lastname": "Test",
            "phone_number": format!("+1555000010{i}"),
            "lead_status": status, "tags": tags,
        });
        if !follow_up.is_empty() {
            body["follow_up_date"] = json!(follow_up);
        }
        if !webhook.is_empty() {
            body["webhook_name"] = json!(webhook);
        }
        let (s, reply) = create(&app, &a.token, body).await;
        assert_eq!(s, 201, "{reply}");
        created.push(reply["data"].clone());
    }
    let id = |i: usize| created[i]["id"].as_str().unwrap().to_owned();
    // Beta's lookalikes never show up in Alpha's results.
    contact(
        &app,
        &b.token,
        json!({"firstname": "B", "lastname": "Test", "phone_number": "+15550000100",
               "lead_status": "new", "tags": ["vip"], "webhook_name": "facebook-leads",
               "follow_up_date": "2025-08-01"}),
    )
    .await;

    let search = |query: String| {
        app.send(app.get_as(&a.token, &format!("/api/contacts/enhanced-search?{query}")))
    };
    let second_created = created[1]["created_at"].as_str().unwrap().to_owned();
    let third_created = created[2]["created_at"].as_str().unwrap().to_owned();
    let enc = |s: &str| s.replace('+', "%2B").replace(':', "%3A");
    for (query, expected) in [
        ("lead_status=new".to_owned(), vec![id(3), id(1), id(0)]),
        ("lead_status=QUALIFIED".to_owned(), vec![id(4), id(2)]),
        ("tag=vip".to_owned(), vec![id(2), id(0)]),
        ("tag=Website".to_owned(), vec![id(1), id(0)]),
        ("tag=vip&lead_status=new".to_owned(), vec![id(0)]),
        ("tag=nothing".to_owned(), vec![]),
        (format!("contact_id={}", id(2)), vec![id(2)]),
        ("contact_id=not-a-uuid".to_owned(), vec![]),
        ("phone_number=%28555%29%20000-0103".to_owned(), vec![id(3)]),
        ("phone_number=+15550000104".to_owned(), vec![id(4)]),
        ("follow_up_date=2025-08-01".to_owned(), vec![id(3), id(0)]),
        ("webhook_name=facebook-leads".to_owned(), vec![id(2), id(0)]),
        (
            format!("lead_status=new&from_date={}", enc(&second_created)),
            vec![id(3), id(1)],
        ),
        (
            format!("lead_status=new&to_date={}", enc(&second_created)),
            vec![id(1), id(0)],
        ),
        (
            format!(
                "webhook_name=facebook-leads&from_date={}&to_date={}",
                enc(&second_created),
                enc(&third_created)
            ),
            vec![id(2)],
        ),
        (
            "lead_status=new&from_date=2000-01-01&to_date=2999-12-31".to_owned(),
            vec![id(3), id(1), id(0)],
        ),
        ("lead_status=new&to_date=2000-01-01".to_owned(), vec![]),
        (
            "lead_status=new&from_date=2999-01-01T00:00:00Z".to_owned(),
            vec![],
        ),
    ] {
        let (s, body) = search(query.clone()).await;
        assert_eq!(s, 200, "{query}: {body}");
        assert_eq!(ids(&body), expected, "{query}: {body}");
        assert_eq!(body["count"], expected.len(), "{query}");
        assert_eq!(body["pagination"]["total"], expected.len(), "{query}");
        assert_eq!(body["pagination"]["has_more"], false, "{query}");
        assert_eq!(body["pagination"]["limit"], 20, "{query}");
        assert_eq!(body["pagination"]["offset"], 0, "{query}");
    }
    let (_, body) = search("tag=vip&lead_status=new".into()).await;
    assert_eq!(body["data"][0]["tags"], json!(["VIP", "website"]));
    assert_eq!(body["data"][0]["follow_up_date"], "2025-08-01");
    assert_eq!(body["data"][0]["webhook_name"], "facebook-leads");

    // Pages: count and total stay the number of matches; has_more says whether rows follow.
    for (query, expected, has_more) in [
        ("lead_status=new&limit=2", vec![id(3), id(1)], true),
        (
            "lead_status=new&limit=2&offset=1",
            vec![id(1), id(0)],
            false,
        ),
        ("lead_status=new&limit=2&offset=2", vec![id(0)], false),
        ("lead_status=new&limit=1&offset=1", vec![id(1)], true),
        ("lead_status=new&offset=3", vec![], false),
        ("lead_status=new&offset=50", vec![], false),
        (
            "lead_status=new&limit=100",
            vec![id(3), id(1), id(0)],
            false,
        ),
    ] {
        let (s, body) = search(query.into()).await;
        assert_eq!(s, 200, "{query}: {body}");
        assert_eq!(ids(&body), expected, "{query}");
        assert_eq!(body["count"], 3, "{query}");
        assert_eq!(body["pagination"]["total"], 3, "{query}");
        assert_eq!(body["pagination"]["has_more"], has_more, "{query}");
    }
    let (_, body) = search("lead_status=new&limit=2&offset=1".into()).await;
    assert_eq!(
        body["pagination"],
        json!({"limit": 2, "offset": 1, "total": 3, "has_more": false})
    );

    let needs = "At least one search parameter is required: contact_id, phone_number, lead_status, tag, follow_up_date, or webhook_name";
    for query in [
        "",
        "from_date=2025-01-01",
        "limit=10&offset=0",
        "workspace_id=05084",
        "tag=%20",
    ] {
        let (s, body) = search(query.into()).await;
        assert_eq!(s, 400, "{query}: {body}");
        assert_eq!(body["error"], needs, "{query}");
    }
    for (query, field) in [
        ("lead_status=new&limit=0", "limit"),
        ("lead_status=new&limit=101", "limit"),
        ("lead_status=new&offset=-1", "offset"),
        ("follow_up_date=08/01/2025", "follow_up_date"),
        ("lead_status=new&from_date=yesterday", "from_date"),
        ("lead_status=new&to_date=2025-13-01", "to_date"),
        ("phone_number=12", "phone_number"),
    ] {
        refused(
            &app,
            app.get_as(&a.token, &format!("/api/contacts/enhanced-search?{query}")),
            field,
        )
        .await;
    }
    app.stack.stop().await;
}

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

/// (type, aggregate id, payload) of the events svc-webhooks received for a workspace, sorted.
async fn events(app: &TestApp, workspace_id: &str) -> Vec<(String, String, Value)> {
    let url = app.stack.backend_urls()["webhooks"].clone();
    let Ok(mut sink) = EventSinkServiceClient::connect(url).await else {
        return Vec::new();
    };
    let mut request = tonic::Request::new(ListReceivedEventsRequest {
        workspace_id: workspace_id.to_owned(),
        r#type: String::new(),
        limit: 1000,
    });
    PrincipalVerifier::new(&app.service_secret)
        .sign_into(&Principal::service("tests"), request.metadata_mut())
        .unwrap();
    let mut out: Vec<_> = sink
        .list_received_events(request)
        .await
        .map(|r| r.into_inner().events)
        .unwrap_or_default()
        .into_iter()
        .map(|e| {
            let payload = serde_json::from_str(&e.payload_json).unwrap_or(Value::Null);
            (e.r#type, e.aggregate_id, payload)
        })
        .collect();
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn every_change_publishes_its_event_and_refused_ones_none() {
    let app = TestApp::spawn().await;
    let a = app.owner("Alpha").await;
    let (s, company) = app
        .send(
            app.post_as(&a.token, "/api/companies")
                .json(&json!({"name": "Acme"})),
        )
        .await;
    assert_eq!(s, 201, "{company}");
    let company_id = company["data"]["id"].as_str().unwrap().to_owned();
    let id = contact(
        &app,
        &a.token,
        json!({"firstname": "John", "lastname": "Smith", "phone_number": "+15551234567",
               "tags": ["vip"], "company_id": company_id}),
    )
    .await;
    // Refused changes publish nothing.
    let (s, _) = create(
        &app,
        &a.token,
        json!({"firstname": "Jim", "lastname": "Smith", "phone_number": "5551234567"}),
    )
    .await;
    assert_eq!(s, 409);
    let (s, _) = app
        .send(
            app.put_as(&a.token, &format!("/api/contacts/{id}"))
                .json(&json!({"timezone": "Nowhere/Land"})),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = app
        .send(
            app.put_as(&a.token, &format!("/api/contacts/{id}"))
                .json(&json!({"lead_status": "qualified"})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = app
        .send(app.delete_as(&a.token, &format!("/api/contacts/{id}")))
        .await;
    assert_eq!(s, 200);
    let (s, tag) = app
        .send(
            app.post_as(&a.token, "/api/tags")
                .json(&json!({"name": "VIP"})),
        )
        .await;
    assert_eq!(s, 201);
    let tag_id = tag["data"]["id"].as_str().unwrap().to_owned();
    let (s, _) = app
        .send(
            app.post_as(&a.token, "/api/tags")
                .json(&json!({"name": "vip"})),
        )
        .await;
    assert_eq!(s, 409);
    let (s, _) = app
        .send(
            app.put_as(&a.token, &format!("/api/tags/{tag_id}"))
                .json(&json!({"color": "red"})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = app
        .send(app.delete_as(&a.token, &format!("/api/tags/{tag_id}")))
        .await;
    assert_eq!(s, 200);

    let arrived = within(Duration::from_secs(10), || async {
        events(&app, &a.workspace_id).await.len() >= 7
    })
    .await;
    assert!(
        arrived.is_some(),
        "{:?}",
        events(&app, &a.workspace_id).await
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = events(&app, &a.workspace_id).await;
    let kinds: Vec<(&str, &str)> = got
        .iter()
        .map(|(t, i, _)| (t.as_str(), i.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("company.created", company_id.as_str()),
            ("contact.created", id.as_str()),
            ("contact.deleted", id.as_str()),
            ("contact.updated", id.as_str()),
            ("tag.created", tag_id.as_str()),
            ("tag.deleted", tag_id.as_str()),
            ("tag.updated", tag_id.as_str()),
        ]
    );
    let created = &got[1].2;
    assert_eq!(created["name"], "John Smith");
    assert_eq!(created["phone_number"], "+15551234567");
    assert_eq!(created["tags"], json!(["vip"]));
    assert_eq!(got[3].2["lead_status"], "qualified");
    assert_eq!(got[6].2["color"], "red");
    app.stack.stop().await;
}
