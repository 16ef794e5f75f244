//! Text the database could not store is refused at the edge, naming the field.

use crate::helpers::TestApp;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn nul_characters_are_a_400_naming_the_field_not_a_500() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (s, e) = app
        .send(
            app.post_as(&owner.token, "/api/contacts")
                .json(&json!({"first_name": "Ann\u{0}", "phone": "+14155550100"})),
        )
        .await;
    assert_eq!(
        (s, e["details"]["field"].as_str()),
        (400, Some("first_name")),
        "{e}"
    );
    let (s, e) = app
        .send(app.get_as(&owner.token, "/api/contacts/search?firstname=a%00b"))
        .await;
    assert_eq!(
        (s, e["details"]["field"].as_str()),
        (400, Some("firstname")),
        "{e}"
    );
    app.stack.stop().await;
}
