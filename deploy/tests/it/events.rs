//! Domain events: written to svc-pipeline's outbox with each change, relayed at least once to
//! svc-webhooks (stored once per event id), kept across a restart while the sink is away.

use crate::helpers::{TestApp, within};
use crate::pipelines::{opportunity, pipeline};
use crm_platform::{
    Principal, PrincipalKind, Secret, principal::PrincipalVerifier, testing::TestStorage,
};
use crm_proto::pipeline::{
    CreatePipelineRequest, CreateStageRequest, pipeline_service_client::PipelineServiceClient,
    stage_service_client::StageServiceClient,
};
use crm_proto::webhooks::{
    DomainEvent, ListReceivedEventsRequest, event_sink_service_client::EventSinkServiceClient,
};
use serde_json::{Value, json};
use std::{net::SocketAddr, time::Duration};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

fn signed<T>(secret: &Secret, principal: &Principal, message: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    PrincipalVerifier::new(secret)
        .sign_into(principal, r.metadata_mut())
        .unwrap();
    r
}

async fn received(url: &str, secret: &Secret, workspace_id: &str) -> Vec<DomainEvent> {
    let Ok(mut sink) = EventSinkServiceClient::connect(url.to_owned()).await else {
        return Vec::new();
    };
    sink.list_received_events(signed(
        secret,
        &Principal::service("tests"),
        ListReceivedEventsRequest {
            workspace_id: workspace_id.to_owned(),
            r#type: String::new(),
            limit: 1000,
        },
    ))
    .await
    .map(|r| r.into_inner().events)
    .unwrap_or_default()
}

/// Polls the sink until `count` events arrived for the workspace, or fails after `secs`.
async fn poll(
    url: &str,
    secret: &Secret,
    workspace_id: &str,
    count: usize,
    secs: u64,
) -> Vec<DomainEvent> {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let events = received(url, secret, workspace_id).await;
        if events.len() >= count {
            return events;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {:?} arrived",
            types(&events)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn types(events: &[DomainEvent]) -> Vec<&str> {
    events.iter().map(|e| e.r#type.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_reach_svc_webhooks_as_events() {
    let app = TestApp::spawn().await;
    let a = app.owner("Alpha").await;
    let p = pipeline(&app, &a, json!({"name": "Sales"})).await;
    let o = opportunity(
        &app,
        &a,
        p["stages"][0]["id"].as_str().unwrap(),
        json!({"title": "Deal", "value": 5}),
    )
    .await;
    let id = o["id"].as_str().unwrap();
    let won_stage = p["stages"][2]["id"].as_str().unwrap();
    let (s, _) = app
        .send(
            app.put_as(&a.token, &format!("/api/pipeline/opportunities/{id}/move"))
                .json(&json!({"stage_id": won_stage})),
        )
        .await;
    assert_eq!(s, 200);

    let sink = app.stack.backend_urls()["webhooks"].clone();
    let want = [
        "pipeline.created",
        "opportunity.created",
        "opportunity.stage_changed",
        "opportunity.won",
    ];
    let events = poll(&sink, &app.service_secret, &a.workspace_id, want.len(), 10).await;
    assert_eq!(types(&events), want, "in the order they happened");
    let moved: Value = serde_json::from_str(&events[2].payload_json).unwrap();
    assert_eq!(moved["id"], id);
    assert_eq!(moved["old_stage_id"], p["stages"][0]["id"]);
    assert_eq!(moved["new_stage_id"], won_stage);
    assert_eq!(moved["changed_by"], a.user_id.as_str());
    assert!(
        events
            .iter()
            .all(|e| e.source == "svc-pipeline" && e.workspace_id == a.workspace_id)
    );

    // Another workspace's events are not listed under this one.
    let b = app.owner("Beta").await;
    pipeline(&app, &b, json!({"name": "Other"})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = received(&sink, &app.service_secret, &a.workspace_id).await;
    assert_eq!(types(&again), want);
    app.stack.stop().await;
}

async fn start_pipeline(
    config: svc_pipeline::Config,
    stop: CancellationToken,
) -> (String, tokio::task::JoinHandle<anyhow::Result<()>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(svc_pipeline::serve(config, listener, stop));
    (url, task)
}

async fn connect_retrying<T>(
    url: &str,
    connect: impl Fn(String) -> std::pin::Pin<Box<dyn Future<Output = Option<T>> + Send>>,
) -> T {
    for _ in 0..100 {
        if let Some(client) = connect(url.to_owned()).await {
            return client;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} never came up");
}

#[tokio::test(flavor = "multi_thread")]
async fn queued_events_survive_a_restart_and_a_sink_outage() {
    let storage = TestStorage::new().await;
    let secret = Secret::new(crm_stack::random_secret());
    let db_url = crm_platform::db::service_url(
        storage.database_url.as_deref(),
        &storage.data_dir,
        "pipeline",
    );
    // An address for svc-webhooks, which is not running yet.
    let sink_addr: SocketAddr = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let config = svc_pipeline::Config {
        database_url: db_url.clone(),
        service_secret: secret.clone(),
        events_sink_url: format!("http://{sink_addr}"),
        ..Default::default()
    };

    let stop = CancellationToken::new();
    let (url, task) = start_pipeline(config.clone(), stop.clone()).await;
    let mut owner = Principal::new(PrincipalKind::User, "ws-outbox", "user-1");
    owner.role = "owner".into();
    let mut pipelines = connect_retrying(&url, |u| {
        Box::pin(async move { PipelineServiceClient::connect(u).await.ok() })
    })
    .await;
    let created = pipelines
        .create_pipeline(signed(
            &secret,
            &owner,
            CreatePipelineRequest {
                name: "Queued".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .data
        .unwrap();
    let mut stages = StageServiceClient::connect(url.clone()).await.unwrap();
    stages
        .create_stage(signed(
            &secret,
            &owner,
            CreateStageRequest {
                name: "Extra".into(),
                pipeline_id: created.id.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();

    // The sink is away: both events wait in the outbox, through a restart.
    let db = crm_platform::db::connect(&db_url, "pipeline")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let backlog = crm_platform::outbox::backlog(&db).await.unwrap();
    assert_eq!((backlog.pending, backlog.delivered), (2, 0));
    stop.cancel();
    task.await.unwrap().unwrap();

    let sink_stop = CancellationToken::new();
    let sink_listener = TcpListener::bind(sink_addr).await.unwrap();
    let sink_task = tokio::spawn(svc_webhooks::serve(
        svc_webhooks::Config {
            database_url: crm_platform::db::service_url(
                storage.database_url.as_deref(),
                &storage.data_dir,
                "webhooks",
            ),
            service_secret: secret.clone(),
            data_key: secret.clone(),
            allow_targets: Vec::new(),
            ..svc_webhooks::Config::default()
        },
        sink_listener,
        sink_stop.clone(),
    ));
    let restart = CancellationToken::new();
    let (_, task) = start_pipeline(config, restart.clone()).await;

    let sink_url = format!("http://{sink_addr}");
    let events = poll(&sink_url, &secret, "ws-outbox", 2, 30).await;
    assert_eq!(types(&events), ["pipeline.created", "stage.created"]);
    let payload: Value = serde_json::from_str(&events[0].payload_json).unwrap();
    assert_eq!(payload["id"], created.id.as_str());
    // The sink has them; the relay marks them delivered once its call returns.
    let marked = within(Duration::from_secs(5), || async {
        let b = crm_platform::outbox::backlog(&db).await.unwrap();
        (b.pending, b.delivered) == (0, 2)
    })
    .await;
    assert!(
        marked.is_some(),
        "{:?}",
        crm_platform::outbox::backlog(&db).await.unwrap()
    );
    // Delivered once each even though the relay may have retried.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(received(&sink_url, &secret, "ws-outbox").await.len(), 2);

    restart.cancel();
    task.await.unwrap().unwrap();
    sink_stop.cancel();
    sink_task.await.unwrap().unwrap();
    db.close().await.ok();
}
