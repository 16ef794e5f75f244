use crate::helpers::TestApp;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn workspace_a_cannot_see_workspace_b() {
    let app = TestApp::spawn().await;
    let a = app.owner("Alpha").await;
    let b = app.owner("Beta").await;
    let (a_key_id, a_key) = app.key(&a.token, &["workspace_members:read"]).await;
    let (b_key_id, _) = app.key(&b.token, &["contacts:read"]).await;

    // B's key id through A's token: not found, never forbidden-but-exists.
    for request in [
        app.get_as(&a.token, &format!("/api/api-keys/{b_key_id}")),
        app.put_as(&a.token, &format!("/api/api-keys/{b_key_id}"))
            .json(&json!({"name": "pwned"})),
        app.post_as(&a.token, &format!("/api/api-keys/{b_key_id}/revoke")),
        app.post_as(&a.token, &format!("/api/api-keys/{b_key_id}/regenerate")),
        app.delete_as(&a.token, &format!("/api/api-keys/{b_key_id}")),
    ] {
        let (s, body) = app.send(request).await;
        assert_eq!(s, 404, "{body}");
        assert_eq!(body["code"], "NOT_FOUND");
    }
    // A client-supplied workspace_id never widens access.
    let (_, list) = app
        .send(app.get_as(
            &a.token,
            &format!("/api/api-keys?workspace_id={}", b.workspace_id),
        ))
        .await;
    let ids: Vec<_> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, vec![a_key_id]);
    // Nor does a header naming a workspace the user is not in.
    let (s, body) = app
        .send(
            app.get_as(&a.token, "/api/api-keys")
                .header("X-Workspace-ID", &b.workspace_id),
        )
        .await;
    assert_eq!(s, 403);
    assert_eq!(body["code"], "NOT_A_MEMBER");
    let (s, body) = app
        .send(
            app.http
                .get(app.url("/api/agents"))
                .header("x-api-key", &a_key)
                .header("X-Workspace-ID", &b.workspace_id),
        )
        .await;
    assert_eq!(s, 200);
    let emails: Vec<_> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        emails,
        vec![a.email.clone()],
        "a key acts in its own workspace only"
    );
    // B's key still works: nothing A did touched it.
    let (_, b_list) = app.send(app.get_as(&b.token, "/api/api-keys")).await;
    assert_eq!(b_list["data"][0]["id"], b_key_id.as_str());
    assert_eq!(b_list["data"][0]["name"], "test key");
    assert_eq!(b_list["data"][0]["status"], "active");
    app.stack.stop().await;
}
