//! Seed 003 client `metadata` and `webhookSecret`: metadata round-trips and is validated; the
//! signing secret is generated (or chosen), shown once, never listed, readable only by our own
//! services, and rotated on request.

use crate::{api_clients::new_client, helpers::TestApp};
use crm_proto::auth::{
    GetClientWebhookRequest, key_validation_service_client::KeyValidationServiceClient,
};
use serde_json::{Value, json};

/// The webhook URL and secret svc-auth hands to our own services, or the gRPC code.
async fn internal_webhook(
    app: &TestApp,
    workspace_id: &str,
    client_id: &str,
) -> Result<(String, String), tonic::Code> {
    let mut client = KeyValidationServiceClient::connect(format!("http://{}", app.stack.auth_addr))
        .await
        .unwrap();
    let request = app.as_service(GetClientWebhookRequest {
        workspace_id: workspace_id.to_owned(),
        api_client_id: client_id.to_owned(),
    });
    client
        .get_client_webhook(request)
        .await
        .map(|r| {
            let r = r.into_inner();
            (r.url, r.secret)
        })
        .map_err(|s| s.code())
}

async fn put(app: &TestApp, token: &str, id: &str, body: Value) -> (u16, Value) {
    app.send(
        app.put_as(token, &format!("/api/v1/api-clients/{id}"))
            .json(&body),
    )
    .await
}

/// The webhook secret column of a client row as stored.
async fn stored_secret(app: &TestApp, id: &str) -> Option<String> {
    use sea_orm::EntityTrait;
    use svc_auth::store::entities::api_clients;
    api_clients::Entity::find_by_id(id.to_owned())
        .one(&app.auth_db().await)
        .await
        .unwrap()
        .unwrap()
        .webhook_secret
}

#[tokio::test(flavor = "multi_thread")]
async fn metadata_round_trips_and_the_webhook_secret_is_shown_once() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let c = new_client(
        &app,
        &owner.token,
        json!({
            "name": "Alpha",
            "contactEmail": "tech@alpha.com",
            "scopes": ["contacts:read"],
            "webhookUrl": "https://alpha.example.com/hooks",
            "metadata": {"crmId": "A-17", "seats": 3, "regions": ["eu", "us"]}
        }),
    )
    .await;
    let id = c["id"].as_str().unwrap().to_owned();
    let secret = c["webhookSecret"].as_str().unwrap().to_owned();
    assert!(
        secret.starts_with("whsec_") && secret.len() == 70,
        "{secret}"
    );
    assert_eq!(c["hasWebhookSecret"], true);
    let metadata = json!({"crmId": "A-17", "seats": 3, "regions": ["eu", "us"]});
    assert_eq!(c["metadata"], metadata);
    let at_rest = stored_secret(&app, &id).await.unwrap();
    assert!(
        at_rest.starts_with("v1:") && !at_rest.contains(&secret[6..]),
        "stored sealed, not in clear: {at_rest}"
    );

    let (_, got) = app
        .send(app.get_as(&owner.token, &format!("/api/v1/api-clients/{id}")))
        .await;
    assert_eq!(got["data"]["metadata"], metadata);
    assert_eq!(got["data"]["hasWebhookSecret"], true);
    assert!(got["data"]["webhookSecret"].is_null(), "{got}");
    let (_, listed) = app
        .send(app.get_as(&owner.token, "/api/v1/api-clients"))
        .await;
    assert!(!listed.to_string().contains(&secret));

    assert_eq!(
        internal_webhook(&app, &owner.workspace_id, &id).await,
        Ok(("https://alpha.example.com/hooks".to_owned(), secret.clone()))
    );
    let other = app.owner("Other").await;
    assert_eq!(
        internal_webhook(&app, &other.workspace_id, &id).await,
        Err(tonic::Code::NotFound),
        "another workspace never reaches the client"
    );

    let (s, rotated) = put(
        &app,
        &owner.token,
        &id,
        json!({"rotateWebhookSecret": true}),
    )
    .await;
    assert_eq!(s, 200, "{rotated}");
    let new_secret = rotated["data"]["webhookSecret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_secret, secret);
    assert_eq!(
        internal_webhook(&app, &owner.workspace_id, &id)
            .await
            .unwrap()
            .1,
        new_secret
    );

    let chosen = "my-own-signing-secret-0123456789";
    let (s, set) = put(&app, &owner.token, &id, json!({"webhookSecret": chosen})).await;
    assert_eq!(
        (s, set["data"]["webhookSecret"].as_str()),
        (200, Some(chosen))
    );
    let (s, plain) = put(&app, &owner.token, &id, json!({"name": "Alpha 2"})).await;
    assert_eq!(s, 200);
    assert!(
        plain["data"]["webhookSecret"].is_null(),
        "shown only when set"
    );
    assert_eq!(
        plain["data"]["metadata"], metadata,
        "untouched when not sent"
    );

    for (body, field) in [
        (json!({"webhookSecret": "short"}), "webhookSecret"),
        (
            json!({"webhookSecret": chosen, "rotateWebhookSecret": true}),
            "rotateWebhookSecret",
        ),
        (
            json!({"metadata": {"x".repeat(41): 1}}),
            "metadata.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        ),
    ] {
        let (s, e) = put(&app, &owner.token, &id, body).await;
        assert_eq!(
            (s, e["details"]["field"].as_str()),
            (400, Some(field)),
            "{e}"
        );
    }
    let (s, e) = put(
        &app,
        &owner.token,
        &id,
        json!({"metadata": "not an object"}),
    )
    .await;
    assert_eq!(s, 400, "{e}");
    assert!(e["error"].as_str().unwrap().contains("metadata"), "{e}");

    let (s, cleared) = put(
        &app,
        &owner.token,
        &id,
        json!({"metadata": {}, "webhookSecret": ""}),
    )
    .await;
    assert_eq!(s, 200);
    assert!(cleared["data"]["metadata"].is_null(), "{cleared}");
    assert_eq!(cleared["data"]["hasWebhookSecret"], false);

    // Without a webhook URL nothing is generated.
    let bare = new_client(
        &app,
        &owner.token,
        json!({"name": "Beta", "contactEmail": "b@beta.com", "scopes": ["contacts:read"]}),
    )
    .await;
    assert_eq!(bare["hasWebhookSecret"], false);
    assert!(bare["webhookSecret"].is_null());
    app.stack.stop().await;
}
