//! Basic and enhanced contact search.

use super::*;
use crate::helpers::TestApp;
use serde_json::json;

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
