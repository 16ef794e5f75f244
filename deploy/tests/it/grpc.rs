use crate::helpers::TestApp;
use crm_platform::{Principal, PrincipalKind, principal::PrincipalVerifier};
use crm_proto::auth::{
    GetMeRequest, GetMeResponse, ValidateKeyRequest, auth_service_client::AuthServiceClient,
    key_validation_service_client::KeyValidationServiceClient,
};
use prost::Message;
use tonic::{Code, Request};

fn with_key<T>(message: T, key: &str) -> Request<T> {
    let mut r = Request::new(message);
    r.metadata_mut().insert("x-api-key", key.parse().unwrap());
    r
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_calls_through_the_gateway_are_authenticated() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (id, key) = app.key(&owner.token, &["contacts:read"]).await;
    let mut client = AuthServiceClient::connect(app.base.clone()).await.unwrap();

    let me = client
        .get_me(with_key(GetMeRequest {}, &key))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(me.api_key_id, id);
    assert_eq!(me.workspace_id, owner.workspace_id);

    let err = client
        .get_me(Request::new(GetMeRequest {}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);

    // A principal forged by the client is discarded; only the gateway's signature counts.
    let mut forged = with_key(GetMeRequest {}, &key);
    forged.metadata_mut().insert(
        "x-crm-principal",
        "v1|user|other-ws|u|||*|9999999999".parse().unwrap(),
    );
    forged
        .metadata_mut()
        .insert("x-crm-principal-sig", "00".parse().unwrap());
    let me = client.get_me(forged).await.unwrap().into_inner();
    assert_eq!(me.workspace_id, owner.workspace_id);

    // Internal RPCs are not reachable from outside.
    let mut internal = KeyValidationServiceClient::connect(app.base.clone())
        .await
        .unwrap();
    let err = internal
        .validate_key(with_key(
            ValidateKeyRequest {
                key_hash: crm_platform::api_key::hash(&key),
            },
            &key,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn services_refuse_calls_without_a_valid_principal() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let direct = format!("http://{}", app.stack.auth_addr);
    let mut client = AuthServiceClient::connect(direct.clone()).await.unwrap();
    let err = client
        .get_me(Request::new(GetMeRequest {}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);

    let mut p = Principal::new(PrincipalKind::User, &owner.workspace_id, &owner.user_id);
    p.role = "owner".into();
    let wrong = PrincipalVerifier::new(&crm_platform::Secret::new("x".repeat(40)));
    let mut request = Request::new(GetMeRequest {});
    wrong.sign_into(&p, request.metadata_mut()).unwrap();
    assert_eq!(
        client.get_me(request).await.unwrap_err().code(),
        Code::Unauthenticated
    );

    let right = PrincipalVerifier::new(&app.service_secret);
    let mut request = Request::new(GetMeRequest {});
    right.sign_into(&p, request.metadata_mut()).unwrap();
    assert_eq!(
        client
            .get_me(request)
            .await
            .unwrap()
            .into_inner()
            .workspace_id,
        owner.workspace_id
    );
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_web_calls_are_translated_by_the_gateway() {
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let (id, key) = app.key(&owner.token, &["contacts:read"]).await;
    let response = app.grpc_web_get_me(&key).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/grpc-web")
    );
    let body = response.bytes().await.unwrap();
    assert_eq!(body[0], 0, "first frame carries the message");
    let len = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
    let me = GetMeResponse::decode(&body[5..5 + len]).unwrap();
    assert_eq!(me.api_key_id, id);
    let trailers = &body[5 + len..];
    assert_eq!(trailers[0], 0x80, "then the trailers frame");
    assert!(String::from_utf8_lossy(&trailers[5..]).contains("grpc-status:0"));

    // Without credentials the gRPC-web caller gets the status in trailers.
    let response = app
        .http
        .post(app.url("/crm.auth.v1.AuthService/GetMe"))
        .header("content-type", "application/grpc-web+proto")
        .body(vec![0u8, 0, 0, 0, 0])
        .send()
        .await
        .unwrap();
    let grpc_status = response
        .headers()
        .get("grpc-status")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.bytes().await.unwrap();
    let text = String::from_utf8_lossy(&body).into_owned();
    assert!(
        grpc_status.as_deref() == Some("16") || text.contains("grpc-status:16"),
        "{grpc_status:?} {text}"
    );
    app.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn workspace_rpcs_answer_over_grpc_with_a_user_token() {
    use crm_proto::auth::{
        ListMembersRequest, ListWorkspacesRequest, workspace_service_client::WorkspaceServiceClient,
    };
    let app = TestApp::spawn().await;
    let owner = app.owner("Acme").await;
    let mut client = WorkspaceServiceClient::connect(app.base.clone())
        .await
        .unwrap();
    let bearer = |message| {
        let mut r = Request::new(message);
        r.metadata_mut().insert(
            "authorization",
            format!("Bearer {}", owner.token).parse().unwrap(),
        );
        r
    };
    let mine = client
        .list_workspaces(bearer(ListWorkspacesRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mine.data.len(), 1);
    assert_eq!(mine.data[0].role, "owner");
    let mut members = Request::new(ListMembersRequest {
        workspace_id: owner.workspace_id.clone(),
    });
    members.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", owner.token).parse().unwrap(),
    );
    let members = client.list_members(members).await.unwrap().into_inner();
    assert_eq!(members.data[0].user_id, owner.user_id);
    // A key may not manage workspaces, over gRPC as over REST.
    let (_, key) = app.key(&owner.token, &["contacts:read"]).await;
    let err = client
        .list_workspaces(with_key(ListWorkspacesRequest {}, &key))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    app.stack.stop().await;
}
