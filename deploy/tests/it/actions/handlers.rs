//! Each action type end to end: the change visible through the records' own endpoints, the
//! execution recorded (failed ones too, answered as a 400 naming the configuration field),
//! read by id and listed per contact, and the events it leaves.

use super::{completed, contact, execute, get_contact, received_events};
use crate::helpers::TestApp;
use crate::pipelines::{opportunity, pipeline};
use serde_json::{Value, json};
use std::time::Duration;
use svc_auth::domain::role::Role;

#[tokio::test(flavor = "multi_thread")]
async fn tag_actions_and_field_updates_run_and_are_recorded() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let id = contact(&app, &owner).await;

    // The seed's example: the tag is new, so it joins the catalog and the contact.
    let added = completed(
        &app,
        &owner,
        json!({"action_type": "add_tag", "contact_id": id,
               "configuration": {"tagName": "Hot Lead", "color": "red",
                                 "description": "High priority prospect"},
               "execution_context": {"flow_id": "flow-uuid-1", "trigger_event": "form_submission"}}),
    )
    .await;
    assert_eq!(added["action_type"], "add_tag");
    assert_eq!(added["result"]["tag_added"], true);
    assert_eq!(added["result"]["contact_id"], id.as_str());
    assert!(
        added["executed_at"].as_str().unwrap().ends_with('Z'),
        "{added}"
    );
    assert!(added["duration_ms"].is_u64(), "{added}");
    let tag_id = added["result"]["tag_id"].as_str().unwrap().to_owned();
    assert_eq!(
        get_contact(&app, &owner, &id).await["tags"],
        json!(["Hot Lead"])
    );
    let (s, tags) = app.send(app.get_as(&owner.token, "/api/tags")).await;
    assert_eq!(s, 200);
    let tag = &tags["data"][0];
    assert_eq!((&tag["id"], &tag["color"]), (&json!(tag_id), &json!("red")));

    // Again, in another case: the same tag, nothing added.
    let again = completed(
        &app,
        &owner,
        json!({"action_type": "add_tag", "contact_id": id, "configuration": {"tagName": "hot lead"}}),
    )
    .await;
    assert_eq!(again["result"]["tag_added"], false);
    assert_eq!(again["result"]["tag_id"], tag_id.as_str());

    let removed = completed(
        &app,
        &owner,
        json!({"action_type": "remove_tag", "contact_id": id, "configuration": {"tagName": "HOT LEAD"}}),
    )
    .await;
    assert_eq!(removed["result"]["tag_removed"], true);
    assert_eq!(get_contact(&app, &owner, &id).await["tags"], json!([]));

    let updated = completed(
        &app,
        &owner,
        json!({"action_type": "update_field", "contact_id": id,
               "configuration": {"field": "lead_status", "value": "qualified"}}),
    )
    .await;
    assert_eq!(updated["result"]["old_value"], Value::Null);
    assert_eq!(updated["result"]["new_value"], "qualified");
    assert_eq!(
        get_contact(&app, &owner, &id).await["lead_status"],
        "qualified"
    );

    // The contact update's own rules refuse the value: recorded as failed, a 400 naming it.
    let (s, b) = execute(
        &app,
        &owner,
        json!({"action_type": "update_field", "contact_id": id,
               "configuration": {"field": "email", "value": "not-an-email"}}),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["code"], "ACTION_FAILED", "{b}");
    assert_eq!(b["details"]["field"], "configuration.value", "{b}");
    let failed_id = b["execution_id"].as_str().unwrap().to_owned();
    let (s, f) = app
        .send(app.get_as(
            &owner.token,
            &format!("/api/actions/executions/{failed_id}"),
        ))
        .await;
    assert_eq!(s, 200, "{f}");
    assert_eq!(f["data"]["status"], "failed");
    assert!(
        f["data"]["error"]
            .as_str()
            .unwrap()
            .contains("configuration.value"),
        "{f}"
    );

    // One execution by id, with what it was asked.
    let first = added["execution_id"].as_str().unwrap();
    let (s, g) = app
        .send(app.get_as(&owner.token, &format!("/api/actions/executions/{first}")))
        .await;
    assert_eq!(s, 200, "{g}");
    assert_eq!(g["data"]["configuration"]["tagName"], "Hot Lead");
    assert_eq!(
        g["data"]["execution_context"]["trigger_event"],
        "form_submission"
    );
    assert_eq!(g["data"]["error"], Value::Null);

    // The contact's executions, newest first, two per page.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let (s, page) = app
            .send(app.get_as(
                &owner.token,
                &format!("/api/actions/executions?contact_id={id}&limit=2{cursor}"),
            ))
            .await;
        assert_eq!(s, 200, "{page}");
        for e in page["data"].as_array().unwrap() {
            seen.push(e["action_type"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        [
            "update_field",
            "update_field",
            "remove_tag",
            "add_tag",
            "add_tag"
        ]
    );

    assert_eq!(
        received_events(&app, &owner.workspace_id, "action.executed", 5).await,
        5,
        "one action.executed per execution, failed ones included"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn opportunities_move_and_contacts_are_assigned() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let id = contact(&app, &owner).await;
    let p = pipeline(&app, &owner, json!({"name": "Sales"})).await;
    let (first, second) = (
        p["stages"][0]["id"].as_str().unwrap(),
        p["stages"][1]["id"].as_str().unwrap(),
    );
    let o = opportunity(
        &app,
        &owner,
        first,
        json!({"title": "Deal", "contact_id": id}),
    )
    .await;
    let opp = o["id"].as_str().unwrap();

    let moved = completed(
        &app,
        &owner,
        json!({"action_type": "move_opportunity", "contact_id": id,
               "configuration": {"opportunity_id": opp, "stage_id": second}}),
    )
    .await;
    assert_eq!(moved["result"]["moved"], true, "{moved}");
    assert_eq!(moved["result"]["from_stage_id"], first);
    let (s, got) = app
        .send(app.get_as(&owner.token, &format!("/api/pipeline/opportunities/{opp}")))
        .await;
    assert_eq!(s, 200, "{got}");
    assert_eq!(got["data"]["stage_id"], second, "{got}");

    for (configuration, field) in [
        (
            json!({"opportunity_id": uuid::Uuid::new_v4().to_string(), "stage_id": second}),
            "configuration.opportunity_id",
        ),
        (
            json!({"opportunity_id": opp, "stage_id": uuid::Uuid::new_v4().to_string()}),
            "configuration.stage_id",
        ),
    ] {
        let (s, b) = execute(
            &app,
            &owner,
            json!({"action_type": "move_opportunity", "contact_id": id, "configuration": configuration}),
        )
        .await;
        assert_eq!(s, 400, "{b}");
        assert_eq!(b["details"]["field"], field, "{b}");
        assert!(b["execution_id"].is_string(), "{b}");
    }

    let agent = app.member(&owner, Role::Agent).await;
    let (s, me) = app.send(app.get_as(&agent, "/api/auth/me")).await;
    assert_eq!(s, 200, "{me}");
    let agent_id = me["subject"].as_str().unwrap();
    let assigned = completed(
        &app,
        &owner,
        json!({"action_type": "assign_agent", "contact_id": id,
               "configuration": {"agent_id": agent_id}}),
    )
    .await;
    assert_eq!(assigned["result"]["assigned_to"], agent_id);
    assert_eq!(
        get_contact(&app, &owner, &id).await["assigned_to"],
        agent_id
    );

    // Someone who is not a member (checked with svc-auth) is refused and recorded.
    let (s, b) = execute(
        &app,
        &owner,
        json!({"action_type": "assign_agent", "contact_id": id,
               "configuration": {"agent_id": uuid::Uuid::new_v4().to_string()}}),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["details"]["field"], "configuration.agent_id", "{b}");
    assert_eq!(
        get_contact(&app, &owner, &id).await["assigned_to"],
        agent_id
    );

    // An agent (a user role) may run actions too.
    let (s, b) = app
        .send(app.post_as(&agent, "/api/actions/execute").json(
            &json!({"action_type": "add_tag", "contact_id": id, "configuration": {"tagName": "VIP"}}),
        ))
        .await;
    assert_eq!(s, 200, "{b}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_triggered_webhook_is_delivered_to_the_subscriptions_of_its_type() {
    use crate::webhook_deliveries::{Receiver, app as webhooks_app};
    let app = webhooks_app().await;
    let owner = app.owner("Acme").await;
    let receiver = Receiver::start(&[], 200).await;
    let (s, hook) = app
        .send(
            app.post_as(&owner.token, "/api/v1/webhooks")
                .json(&json!({"url": receiver.url, "events": ["action.webhook_triggered"]})),
        )
        .await;
    assert!(s == 200 || s == 201, "{s} {hook}");
    let hook_id = hook["data"]["id"].as_str().unwrap().to_owned();
    let id = contact(&app, &owner).await;

    let done = completed(
        &app,
        &owner,
        json!({"action_type": "trigger_webhook", "contact_id": id,
               "configuration": {"payload": {"flow": "welcome"}}}),
    )
    .await;
    assert_eq!(done["result"]["event_type"], "action.webhook_triggered");
    let arrived =
        crate::helpers::within(Duration::from_secs(15), || async { receiver.count() >= 1 }).await;
    assert!(arrived.is_some(), "the receiver got the event");
    let (s, list) = app
        .send(app.get_as(
            &owner.token,
            &format!("/api/v1/webhooks/{hook_id}/deliveries"),
        ))
        .await;
    assert_eq!(s, 200, "{list}");
    let deliveries = list["data"].as_array().unwrap();
    assert_eq!(deliveries.len(), 1, "{list}");
    assert_eq!(
        deliveries[0]["event_type"], "action.webhook_triggered",
        "{list}"
    );

    let (s, b) = execute(
        &app,
        &owner,
        json!({"action_type": "trigger_webhook", "contact_id": id,
               "configuration": {"payload": "not an object"}}),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["details"]["field"], "configuration.payload", "{b}");
}

#[tokio::test(flavor = "multi_thread")]
async fn parallel_tag_actions_on_one_contact_keep_every_tag() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let id = contact(&app, &owner).await;
    let mut runs = tokio::task::JoinSet::new();
    for i in 0..10 {
        let request = app
            .post_as(&owner.token, "/api/actions/execute")
            .json(&json!({"action_type": "add_tag", "contact_id": id,
                    "configuration": {"tagName": format!("Flow {i}")}}));
        runs.spawn(async move {
            let r = request.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        });
    }
    for (s, b) in runs.join_all().await {
        assert_eq!(s, 200, "{b}");
    }
    let tags = get_contact(&app, &owner, &id).await["tags"].clone();
    assert_eq!(tags.as_array().unwrap().len(), 10, "{tags}");
}
