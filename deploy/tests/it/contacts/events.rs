//! The events contact changes publish.

use super::*;
use crate::helpers::{TestApp, within};
use crm_proto::webhooks::{
    ListReceivedEventsRequest, event_sink_service_client::EventSinkServiceClient,
};
use serde_json::{Value, json};
use std::time::Duration;

/// (type, aggregate id, payload) of the events svc-webhooks received for a workspace, sorted.
async fn events(app: &TestApp, workspace_id: &str) -> Vec<(String, String, Value)> {
    let url = app.stack.backend_urls()["webhooks"].clone();
    let Ok(mut sink) = EventSinkServiceClient::connect(url).await else {
        return Vec::new();
    };
    let request = app.as_service(ListReceivedEventsRequest {
        workspace_id: workspace_id.to_owned(),
        r#type: String::new(),
        limit: 1000,
    });
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
