use crate::spawn_app;
use crm_proto::auth::{
    CheckMembershipRequest, ListMembersRequest, UpdateMemberRequest,
    key_validation_service_client::KeyValidationServiceClient,
    workspace_service_client::WorkspaceServiceClient,
};
use svc_auth::domain::{provision, role::Role};
use tonic::Code;

#[tokio::test(flavor = "multi_thread")]
async fn two_owners_demoting_each_other_at_once_leave_one_owner() {
    let app = spawn_app().await;
    for round in 0..5 {
        let (ws, first) = provision::create_workspace(
            &app.db,
            "Acme",
            &format!("first{round}@acme.test"),
            "First",
            "correct horse battery",
        )
        .await
        .unwrap();
        let second = provision::add_user(
            &app.db,
            &ws,
            &format!("second{round}@acme.test"),
            "correct horse battery",
            Role::Owner,
        )
        .await
        .unwrap();
        let demote = |actor: &str, target: &str| {
            let mut client = WorkspaceServiceClient::new(app.channel.clone());
            let request = app.as_user(
                &ws,
                actor,
                UpdateMemberRequest {
                    workspace_id: ws.clone(),
                    user_id: target.to_owned(),
                    role: "admin".into(),
                },
            );
            async move { client.update_member(request).await }
        };
        let (a, b) = tokio::join!(demote(&first, &second), demote(&second, &first));
        let outcomes = [a.map(|_| ()), b.map(|_| ())];
        let won = outcomes.iter().filter(|o| o.is_ok()).count();
        assert_eq!(won, 1, "round {round}: {outcomes:?}");
        let lost = outcomes.iter().find_map(|o| o.as_ref().err()).unwrap();
        // The loser is either refused as the last owner, or, if it ran second, no longer an
        // owner itself and refused by the rules.
        assert!(
            matches!(
                lost.code(),
                Code::FailedPrecondition | Code::PermissionDenied
            ),
            "{lost:?}"
        );
        let members = WorkspaceServiceClient::new(app.channel.clone())
            .list_members(app.as_user(
                &ws,
                &first,
                ListMembersRequest {
                    workspace_id: ws.clone(),
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .data;
        assert_eq!(members.iter().filter(|m| m.role == "owner").count(), 1);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_change_is_announced_on_the_bus() {
    let app = spawn_app().await;
    let (ws, owner) =
        provision::create_workspace(&app.db, "Acme", "o@acme.test", "O", "correct horse battery")
            .await
            .unwrap();
    let agent = provision::add_user(&app.db, &ws, "a@acme.test", "correct horse", Role::Agent)
        .await
        .unwrap();
    let mut messages = app.bus.subscribe();
    WorkspaceServiceClient::new(app.channel.clone())
        .update_member(app.as_user(
            &ws,
            &owner,
            UpdateMemberRequest {
                workspace_id: ws.clone(),
                user_id: agent.clone(),
                role: "viewer".into(),
            },
        ))
        .await
        .unwrap();
    let message = tokio::time::timeout(std::time::Duration::from_secs(1), messages.recv())
        .await
        .expect("announced")
        .unwrap();
    assert_eq!(message, format!("member:{ws}:{agent}"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_external_subject_links_by_verified_email_only() {
    let app = spawn_app().await;
    let (ws, owner) =
        provision::create_workspace(&app.db, "Acme", "o@acme.test", "O", "correct horse battery")
            .await
            .unwrap();
    let check = |subject: &str, verified: bool| {
        let mut client = KeyValidationServiceClient::new(app.channel.clone());
        let request = app.as_service(CheckMembershipRequest {
            workspace_id: ws.clone(),
            user_id: subject.to_owned(),
            email: "O@acme.test".into(),
            issuer: "https://issuer.test".into(),
            email_verified: verified,
        });
        async move { client.check_membership(request).await.unwrap().into_inner() }
    };
    assert!(
        !check("ext-1", false).await.member,
        "unverified email linked"
    );
    let linked = check("ext-1", true).await;
    assert!(linked.member);
    assert_eq!(linked.user_id, owner);
    assert_eq!(linked.role, "owner");
    // Linked now: the pair alone names the user.
    assert!(check("ext-1", false).await.member);
    // Our own user id is no external subject.
    assert!(!check(&owner, false).await.member);
}
