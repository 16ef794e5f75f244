//! Opportunity lists over REST: every filter and the pagination edges.

use crate::helpers::TestApp;
use crate::opportunities::{list, titles};
use crate::pipelines::{opportunity, pipeline};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn every_filter_and_pagination_edge() {
    let app = TestApp::spawn().await;
    let a = app.owner("Alpha").await;
    let sales = pipeline(&app, &a, json!({"name": "Sales"})).await;
    let other = pipeline(&app, &a, json!({"name": "Other"})).await;
    let new = sales["stages"][0]["id"].as_str().unwrap().to_owned();
    let pending = sales["stages"][1]["id"].as_str().unwrap().to_owned();
    let done = sales["stages"][2]["id"].as_str().unwrap().to_owned();
    let elsewhere = other["stages"][0]["id"].as_str().unwrap().to_owned();

    let (s, c) = app
        .send(app.post_as(&a.token, "/api/contacts").json(&json!({
            "firstname": "John", "lastname": "Smith", "phone_number": "+15551234567",
            "email": "john.smith@example.com"
        })))
        .await;
    assert_eq!(s, 201, "{c}");
    let contact_id = c["data"]["id"].as_str().unwrap().to_owned();

    let specs = [
        (
            "Kitchen Renovation",
            &new,
            45000.0,
            "high",
            "2025-08-15",
            Some(&contact_id),
            "full remodel",
        ),
        (
            "Bathroom",
            &new,
            28000.0,
            "medium",
            "2025-07-01",
            None,
            "walk-in shower",
        ),
        (
            "Deck",
            &pending,
            9000.0,
            "low",
            "2025-09-30",
            Some(&contact_id),
            "cedar KITCHEN deck",
        ),
        (
            "Roof",
            &pending,
            15000.0,
            "high",
            "2025-06-15",
            None,
            "shingles",
        ),
        (
            "Windows",
            &done,
            12000.0,
            "medium",
            "2025-05-01",
            None,
            "triple pane",
        ),
        (
            "Garage",
            &elsewhere,
            30000.0,
            "low",
            "2025-10-10",
            None,
            "two car",
        ),
    ];
    for (title, stage, value, priority, close, contact, description) in specs {
        let mut body = json!({"title": title, "value": value, "priority": priority,
                              "expected_close_date": close, "description": description});
        if let Some(c) = contact {
            body["contact_id"] = json!(c);
        }
        opportunity(&app, &a, stage, body).await;
    }

    let sales_id = sales["id"].as_str().unwrap();
    let other_id = other["id"].as_str().unwrap();
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            String::new(),
            vec![
                "Bathroom",
                "Deck",
                "Garage",
                "Kitchen Renovation",
                "Roof",
                "Windows",
            ],
        ),
        (format!("?pipeline_id={other_id}"), vec!["Garage"]),
        (
            format!("?pipeline_id={sales_id}&stage_id={pending}"),
            vec!["Deck", "Roof"],
        ),
        (
            format!("?contact_id={contact_id}"),
            vec!["Deck", "Kitchen Renovation"],
        ),
        ("?priority=high".into(), vec!["Kitchen Renovation", "Roof"]),
        ("?is_closed=true".into(), vec!["Windows"]),
        (
            "?is_closed=false&priority=low".into(),
            vec!["Deck", "Garage"],
        ),
        ("?search=kitchen".into(), vec!["Deck", "Kitchen Renovation"]),
        ("?search=WALK-IN".into(), vec!["Bathroom"]),
        ("?search=100%25".into(), vec![]),
        (
            "?min_amount=15000".into(),
            vec!["Bathroom", "Garage", "Kitchen Renovation", "Roof"],
        ),
        ("?max_amount=12000".into(), vec!["Deck", "Windows"]),
        (
            "?min_amount=10000&max_amount=28000".into(),
            vec!["Bathroom", "Roof", "Windows"],
        ),
        (
            format!("?stage_id={new}&min_amount=30000"),
            vec!["Kitchen Renovation"],
        ),
        (
            "?expected_close_date_from=2025-07-01".into(),
            vec!["Bathroom", "Deck", "Garage", "Kitchen Renovation"],
        ),
        (
            "?expected_close_date_to=2025-06-15".into(),
            vec!["Roof", "Windows"],
        ),
        (
            "?expected_close_date_from=2025-06-01&expected_close_date_to=2025-08-01".into(),
            vec!["Bathroom", "Roof"],
        ),
        (
            format!("?workspace_id=someone-else&stage_id={done}"),
            vec!["Windows"],
        ),
    ];
    for (query, want) in cases {
        let (s, body) = list(&app, &a, &query).await;
        assert_eq!(s, 200, "{query}: {body}");
        assert_eq!(titles(&body), want, "{query}");
        assert_eq!(body["pagination"]["total"], want.len(), "{query}");
    }

    // Nested records on reads.
    let (_, body) = list(
        &app,
        &a,
        &format!("?contact_id={contact_id}&search=kitchen%20renovation"),
    )
    .await;
    let row = &body["data"][0];
    assert_eq!(row["contact"]["firstname"], "John");
    assert_eq!(row["contact"]["phone_number"], "+15551234567");
    assert_eq!(row["stage"]["name"], "New");
    assert_eq!(row["stage"]["color"], "#4299E1");

    // Pagination: newest first, page/limit, offset, and the edges.
    let (_, p1) = list(&app, &a, "?limit=4").await;
    assert_eq!(
        p1["pagination"],
        json!({"page": 1, "limit": 4, "total": 6, "totalPages": 2, "hasNext": true, "hasPrev": false, "offset": 0})
    );
    assert_eq!(p1["data"][0]["title"], "Garage", "newest first");
    let (_, p2) = list(&app, &a, "?limit=4&page=2").await;
    assert_eq!(p2["data"].as_array().unwrap().len(), 2);
    assert_eq!(p2["pagination"]["hasNext"], false);
    assert_eq!(p2["pagination"]["hasPrev"], true);
    let mut seen: Vec<String> = titles(&p1);
    seen.extend(titles(&p2));
    seen.sort();
    assert_eq!(seen.len(), 6);
    seen.dedup();
    assert_eq!(seen.len(), 6, "pages do not overlap");
    let (_, off) = list(&app, &a, "?offset=5&limit=4").await;
    assert_eq!(off["data"].as_array().unwrap().len(), 1);
    assert_eq!(off["pagination"]["page"], 2);
    let (_, beyond) = list(&app, &a, "?page=9").await;
    assert_eq!(beyond["data"], json!([]));
    assert_eq!(beyond["pagination"]["total"], 6);
    let (_, default) = list(&app, &a, "").await;
    assert_eq!(default["pagination"]["limit"], 50);

    for (query, field) in [
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?page=0", "page"),
        ("?offset=-1", "offset"),
        ("?limit=ten", "limit"),
        ("?min_amount=abc", "min_amount"),
        ("?min_amount=10&max_amount=5", "max_amount"),
        (
            "?expected_close_date_from=yesterday",
            "expected_close_date_from",
        ),
        ("?priority=urgent", "priority"),
        ("?is_closed=maybe", "is_closed"),
        ("?stage_id=12", "stage_id"),
        ("?colour=red", "colour"),
    ] {
        let (s, body) = list(&app, &a, query).await;
        assert_eq!(s, 400, "{query}: {body}");
        assert_eq!(body["details"]["field"], field, "{query}: {body}");
    }
    app.stack.stop().await;
}
