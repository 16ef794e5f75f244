//! The flusher against stand-in svc-metrics and svc-auth servers on port 0, and the queue's
//! bounds.

use super::*;
use crm_proto::{
    auth::{self as pb, KeyUsage, key_validation_service_server as kv},
    metrics::{self as mpb, RequestLog, usage_ingest_service_server as ingest},
};
use tonic::{Request, Response, Status};

/// svc-metrics' and svc-auth's ends of the flusher, keeping what they are sent.
#[derive(Clone, Default)]
struct Receiver {
    requests: Arc<Mutex<Vec<RequestLog>>>,
    usage: Arc<Mutex<Vec<KeyUsage>>>,
    /// svc-metrics refuses every batch.
    refuse: bool,
}

fn signed<T>(request: &Request<T>) -> Result<(), Status> {
    request
        .metadata()
        .get(crm_platform::principal::PRINCIPAL_HEADER)
        .map(|_| ())
        .ok_or_else(|| Status::unauthenticated("unsigned"))
}

#[tonic::async_trait]
impl ingest::UsageIngestService for Receiver {
    async fn record_requests(
        &self,
        request: Request<mpb::RecordRequestsRequest>,
    ) -> Result<Response<mpb::RecordRequestsResponse>, Status> {
        signed(&request)?;
        if self.refuse {
            return Err(Status::unavailable("down"));
        }
        let requests = request.into_inner().requests;
        let recorded = requests.len() as u32;
        self.requests.lock().unwrap().extend(requests);
        Ok(Response::new(mpb::RecordRequestsResponse { recorded }))
    }

    async fn get_keys_usage(
        &self,
        _: Request<mpb::GetKeysUsageRequest>,
    ) -> Result<Response<mpb::UsageStats>, Status> {
        Err(Status::unimplemented("not here"))
    }

    async fn count_accepted(
        &self,
        _: Request<mpb::CountAcceptedRequest>,
    ) -> Result<Response<mpb::CountAcceptedResponse>, Status> {
        Err(Status::unimplemented("not here"))
    }
}

#[tonic::async_trait]
impl kv::KeyValidationService for Receiver {
    async fn validate_key(
        &self,
        _: Request<pb::ValidateKeyRequest>,
    ) -> Result<Response<pb::ValidateKeyResponse>, Status> {
        Err(Status::unimplemented("not here"))
    }

    async fn check_membership(
        &self,
        _: Request<pb::CheckMembershipRequest>,
    ) -> Result<Response<pb::CheckMembershipResponse>, Status> {
        Err(Status::unimplemented("not here"))
    }

    async fn record_key_usage(
        &self,
        request: Request<pb::RecordKeyUsageRequest>,
    ) -> Result<Response<pb::RecordKeyUsageResponse>, Status> {
        signed(&request)?;
        self.usage
            .lock()
            .unwrap()
            .extend(request.into_inner().usage);
        Ok(Response::new(pb::RecordKeyUsageResponse {}))
    }

    async fn get_client_webhook(
        &self,
        _: Request<pb::GetClientWebhookRequest>,
    ) -> Result<Response<pb::ClientWebhook>, Status> {
        Err(Status::unimplemented("not here"))
    }

    async fn get_workspace_profile(
        &self,
        _: Request<pb::GetWorkspaceProfileRequest>,
    ) -> Result<Response<pb::WorkspaceProfile>, Status> {
        Err(Status::unimplemented("not here"))
    }
}

/// Serves `receiver` on a port of its own; a channel to it.
async fn serve(receiver: Receiver, shutdown: CancellationToken) -> Channel {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(ingest::UsageIngestServiceServer::new(receiver.clone()))
            .add_service(kv::KeyValidationServiceServer::new(receiver))
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener),
                async move { shutdown.cancelled().await },
            ),
    );
    tonic::transport::Endpoint::from_shared(url)
        .unwrap()
        .connect_lazy()
}

fn key_entry(id: &str) -> Arc<KeyEntry> {
    Arc::new(KeyEntry {
        status: "active".into(),
        workspace_id: "w1".into(),
        api_key_id: id.into(),
        ..KeyEntry::default()
    })
}

/// Logs `per_key` requests for each of `keys`, lets the flusher run, and stops it.
async fn flush(receiver: &Receiver, keys: &[(&str, usize)]) -> RequestLogger {
    let shutdown = CancellationToken::new();
    let channel = serve(receiver.clone(), shutdown.child_token()).await;
    let logger = RequestLogger::new(&RequestLogConfig::default());
    let signer = PrincipalVerifier::new(&crm_platform::Secret::new(
        "flusher-test-secret-0123456789abcdef",
    ));
    let flusher_stop = CancellationToken::new();
    logger.spawn_flusher(
        channel.clone(),
        channel,
        signer,
        Duration::from_millis(50),
        flusher_stop.clone(),
    );
    for (id, n) in keys {
        let key = key_entry(id);
        for _ in 0..*n {
            let seen = Seen::new(
                &http::HeaderMap::new(),
                std::net::Ipv4Addr::LOCALHOST.into(),
            );
            logger.finish(
                &key,
                seen,
                &http::Method::GET,
                "/api/auth/me".into(),
                200,
                2,
            );
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let total: usize = keys.iter().map(|(_, n)| n).sum();
    while tokio::time::Instant::now() < deadline
        && (logger.sent() + logger.dropped()) < total as u64
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    flusher_stop.cancel();
    shutdown.cancel();
    logger
}

fn counts(receiver: &Receiver) -> Vec<(String, i64)> {
    let mut by_key = std::collections::BTreeMap::new();
    for u in receiver.usage.lock().unwrap().iter() {
        assert_eq!(u.workspace_id, "w1");
        assert!(u.last_used_at.is_some());
        *by_key.entry(u.api_key_id.clone()).or_insert(0) += u.requests;
    }
    by_key.into_iter().collect()
}

#[tokio::test]
async fn one_flush_sends_the_requests_and_from_them_each_keys_use() {
    let receiver = Receiver::default();
    let logger = flush(&receiver, &[("k1", 3), ("k2", 1)]).await;
    assert_eq!((logger.sent(), logger.dropped()), (4, 0));
    assert_eq!(receiver.requests.lock().unwrap().len(), 4);
    assert_eq!(counts(&receiver), vec![("k1".into(), 3), ("k2".into(), 1)]);
}

#[tokio::test]
async fn a_refused_batch_is_dropped_and_counted_and_keys_use_still_counts() {
    let receiver = Receiver {
        refuse: true,
        ..Receiver::default()
    };
    let logger = flush(&receiver, &[("k1", 2)]).await;
    assert_eq!((logger.sent(), logger.dropped()), (0, 2));
    assert!(receiver.requests.lock().unwrap().is_empty());
    assert_eq!(counts(&receiver), vec![("k1".into(), 2)]);
}

fn entry() -> Entry {
    let seen = Seen::new(
        &http::HeaderMap::new(),
        std::net::Ipv4Addr::LOCALHOST.into(),
    );
    Entry {
        key: Arc::default(),
        method: http::Method::GET,
        endpoint: "/api/auth/me".into(),
        status: 200,
        response_time_ms: 1,
        ip: seen.ip,
        user_agent: seen.user_agent,
        request_id: seen.request_id,
        request_size: 0,
        response_size: 0,
        at_ms: seen.at_ms,
    }
}

#[test]
fn a_full_buffer_drops_and_counts() {
    let logger = RequestLogger::new(&RequestLogConfig {
        enabled: true,
        buffer: 2,
        batch: 10,
    });
    for _ in 0..5 {
        logger.log(entry());
    }
    assert_eq!(logger.dropped(), 3);
    let off = RequestLogger::new(&RequestLogConfig {
        enabled: false,
        ..RequestLogConfig::default()
    });
    off.log(entry());
    assert_eq!(off.dropped(), 0);
}

#[test]
fn texts_are_capped_at_a_character_boundary() {
    assert_eq!(capped("abc", 5), "abc");
    assert_eq!(capped("abcdef", 3), "abc");
    // 'ğ' is two bytes: a cap falling inside it keeps the whole characters before it.
    assert_eq!(capped("ağc", 2), "a");
    let mut headers = http::HeaderMap::new();
    headers.insert("user-agent", "x".repeat(10_000).parse().unwrap());
    let seen = Seen::new(&headers, std::net::Ipv4Addr::LOCALHOST.into());
    assert_eq!(seen.user_agent.len(), MAX_USER_AGENT);
}
