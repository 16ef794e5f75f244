//! `Idempotency-Key` on REST `POST`s, with Stripe's semantics: the first answer to a key is
//! kept for 24 hours and replayed (status and body, with `Idempotent-Replayed: true`) to a
//! retry that sends the same key and the same request, without calling the service again. The
//! same key with another request (body, path or query) is a 422 `IDEMPOTENCY_KEY_REUSED`; a
//! retry while the first is still running is a 409 `IDEMPOTENCY_KEY_IN_PROGRESS`.
//!
//! Keys belong to a caller (workspace and API key, workspace and user, or for calls without a
//! caller the client address), so two callers never see each other's answers. Answers are
//! kept whatever they were, except 5xx and 429: those say "try again", so the retry runs.
//! Requests the gateway refuses before calling a service (admission, a malformed body) are not
//! kept either, as Stripe does for requests that fail validation before they execute.
//!
//! Stored in Redis when configured (`SET NX` claims a key, shared by every gateway), else, or
//! while Redis is away, in this gateway's memory.

use crate::{error::GatewayError, redis_link::RedisLink};
use axum::{body::Body, response::Response};
use bytes::Bytes;
use crm_platform::Principal;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header::CONTENT_TYPE};
use moka::future::Cache;
use serde::{Deserialize, Serialize};
use std::{
    net::IpAddr,
    sync::{Arc, LazyLock},
    time::Duration,
};

/// The request header naming the key.
pub const KEY_HEADER: &str = "idempotency-key";
/// The answer header marking a replay.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// Longest accepted key (Stripe's limit).
pub const MAX_KEY_CHARS: usize = 255;
/// How long a first answer is replayed.
pub const RETENTION: Duration = Duration::from_secs(24 * 3600);
/// How long a claim lives in Redis if the gateway running its call dies before answering: a
/// retry after that runs again (a call that takes this long has timed out anyway).
const IN_FLIGHT_TTL: Duration = Duration::from_secs(300);
/// Memory the in-process store may use for kept answers; the oldest go first beyond it.
const LOCAL_CAPACITY_BYTES: u64 = 64 << 20;
/// The value a Redis claim holds until the answer replaces it.
const IN_FLIGHT: &str = "in-flight";

/// Claims a key unless someone holds it: `{1}` when claimed, `{0}` when taken.
static CLAIM: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        "if redis.call('SET', KEYS[1], 'in-flight', 'NX', 'EX', ARGV[1]) then return {1} end return {0}",
    )
});

/// Kept first answers, in Redis and/or in this process.
#[derive(Clone)]
pub struct IdempotencyStore {
    local: Cache<String, Arc<Entry>>,
    redis: Option<RedisLink>,
}

/// What the store holds for a key.
#[derive(Debug)]
enum Entry {
    /// The first request is running.
    InFlight,
    /// Its answer.
    Done(Kept),
}

/// A kept answer and what identifies the request that got it.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Kept {
    /// SHA-256 of method, path, query and body.
    request: String,
    status: u16,
    content_type: Option<String>,
    body: String,
}

/// What to do with a request.
pub enum Begin {
    /// No key sent (or not a POST): call as usual.
    NotRequested,
    /// The key is ours: call, then [`Claim::finish`] with the answer.
    Claimed(Claim),
    /// The answer to replay.
    Replay(Response),
}

impl Default for IdempotencyStore {
    fn default() -> Self {
        Self::new(None)
    }
}

impl IdempotencyStore {
    /// A store in Redis when `redis` is given (falling back to memory while it is away).
    pub fn new(redis: Option<RedisLink>) -> Self {
        let local = Cache::builder()
            .time_to_live(RETENTION)
            .weigher(|key: &String, entry: &Arc<Entry>| {
                let body = match entry.as_ref() {
                    Entry::InFlight => 0,
                    Entry::Done(kept) => kept.body.len(),
                };
                u32::try_from(key.len() + body + 64).unwrap_or(u32::MAX)
            })
            .max_capacity(LOCAL_CAPACITY_BYTES)
            .build();
        Self { local, redis }
    }

    /// Looks at a request's `Idempotency-Key`: nothing to do, a replay, or a claim on the key
    /// for this call. `caller` and `ip` scope the key; method, path, query and body identify
    /// the request.
    pub async fn begin(
        &self,
        method: &Method,
        uri: &http::Uri,
        headers: &HeaderMap,
        caller: &Principal,
        ip: IpAddr,
        body: &[u8],
    ) -> Result<Begin, GatewayError> {
        if method != Method::POST {
            return Ok(Begin::NotRequested);
        }
        let Some(raw) = headers.get(KEY_HEADER) else {
            return Ok(Begin::NotRequested);
        };
        let key = parse_key(raw)?;
        let scope = caller_scope(caller, ip);
        let store_key = format!(
            "idem:{}",
            crm_platform::api_key::hash(&format!("{scope}\n{key}"))
        );
        let request = crm_platform::api_key::hash(&format!(
            "{method} {}\n{}",
            uri.path_and_query().map_or("", |p| p.as_str()),
            String::from_utf8_lossy(body)
        ));
        // One more round when the holder let go between our claim and our read.
        for _ in 0..2 {
            let found = match self.claim_shared(&store_key).await {
                Some(true) => return Ok(self.claimed(store_key, request, true)),
                Some(false) => match self.read_shared(&store_key).await {
                    Some(found) => found,
                    None => continue,
                },
                None => match self.claim_local(&store_key).await {
                    None => return Ok(self.claimed(store_key, request, false)),
                    Some(found) => found,
                },
            };
            return match found.as_ref() {
                Entry::InFlight => Err(in_progress()),
                Entry::Done(kept) if kept.request == request => Ok(Begin::Replay(replay(kept))),
                Entry::Done(_) => Err(reused()),
            };
        }
        Err(in_progress())
    }

    fn claimed(&self, key: String, request: String, shared: bool) -> Begin {
        Begin::Claimed(Claim {
            store: self.clone(),
            key,
            request,
            shared,
            finished: false,
        })
    }

    /// `Some(claimed?)` from Redis; `None` without Redis or while it is away.
    async fn claim_shared(&self, key: &str) -> Option<bool> {
        let redis = self.redis.as_ref()?;
        let reply = redis
            .eval_ints(&CLAIM, &[redis.key(key)], &[IN_FLIGHT_TTL.as_secs()])
            .await?;
        Some(reply.first() == Some(&1))
    }

    /// What Redis holds for a taken key; `None` when it vanished meanwhile.
    async fn read_shared(&self, key: &str) -> Option<Arc<Entry>> {
        let redis = self.redis.as_ref()?;
        let value = redis.get(&redis.key(key)).await?;
        if value == IN_FLIGHT {
            return Some(Arc::new(Entry::InFlight));
        }
        match serde_json::from_str::<Kept>(&value) {
            Ok(kept) => Some(Arc::new(Entry::Done(kept))),
            // Unreadable (another release's format): treat it as running rather than replay
            // something wrong; it expires.
            Err(_) => Some(Arc::new(Entry::InFlight)),
        }
    }

    /// Claims in memory: `None` when claimed, else what holds the key.
    async fn claim_local(&self, key: &str) -> Option<Arc<Entry>> {
        let entry = self
            .local
            .entry(key.to_owned())
            .or_insert_with(async { Arc::new(Entry::InFlight) })
            .await;
        (!entry.is_fresh()).then(|| entry.into_value())
    }

    async fn keep(&self, key: &str, kept: Kept, shared: bool) {
        match (&self.redis, shared) {
            (Some(redis), true) => {
                if let Ok(value) = serde_json::to_string(&kept) {
                    redis
                        .set_ex(&redis.key(key), &value, RETENTION.as_secs())
                        .await;
                }
            }
            _ => {
                self.local
                    .insert(key.to_owned(), Arc::new(Entry::Done(kept)))
                    .await
            }
        }
    }

    async fn release(&self, key: &str, shared: bool) {
        match (&self.redis, shared) {
            (Some(redis), true) => redis.del(&redis.key(key)).await,
            _ => self.local.invalidate(key).await,
        }
    }
}

/// The hold on a key while its first request runs. Dropped without [`Claim::finish`] (the
/// client went away mid-call), it lets go of the key so a retry runs.
pub struct Claim {
    store: IdempotencyStore,
    key: String,
    request: String,
    shared: bool,
    finished: bool,
}

impl Claim {
    /// Keeps `response` for replays (unless it is a 5xx or 429, which a retry should run
    /// again) and hands it back.
    pub async fn finish(mut self, response: Response) -> Response {
        self.finished = true;
        let status = response.status();
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            self.store.release(&self.key, self.shared).await;
            return response;
        }
        let (parts, body) = response.into_parts();
        // REST answers are built in memory; this only joins them.
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_default();
        match String::from_utf8(bytes.to_vec()) {
            Ok(text) => {
                let kept = Kept {
                    request: std::mem::take(&mut self.request),
                    status: status.as_u16(),
                    content_type: parts
                        .headers
                        .get(CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned),
                    body: text,
                };
                self.store.keep(&self.key, kept, self.shared).await;
            }
            Err(_) => self.store.release(&self.key, self.shared).await,
        }
        Response::from_parts(parts, Body::from(bytes))
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let (store, key, shared) = (
            self.store.clone(),
            std::mem::take(&mut self.key),
            self.shared,
        );
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { store.release(&key, shared).await });
        }
    }
}

/// Who a key belongs to.
fn caller_scope(caller: &Principal, ip: IpAddr) -> String {
    if !caller.api_key_id.is_empty() {
        format!("key:{}:{}", caller.workspace_id, caller.api_key_id)
    } else if !caller.subject.is_empty() {
        format!("user:{}:{}", caller.workspace_id, caller.subject)
    } else {
        format!("address:{ip}")
    }
}

fn parse_key(raw: &HeaderValue) -> Result<&str, GatewayError> {
    let bad = |why: &str| GatewayError::bad_request("Idempotency-Key", why.to_owned());
    let key = raw
        .to_str()
        .map_err(|_| bad("must be printable ASCII, e.g. a UUID"))?
        .trim();
    if key.is_empty() {
        return Err(bad(
            "must not be empty; send a unique value per operation, e.g. a UUID",
        ));
    }
    if key.chars().count() > MAX_KEY_CHARS {
        return Err(bad("must be at most 255 characters; a UUID is enough"));
    }
    Ok(key)
}

fn replay(kept: &Kept) -> Response {
    let mut response = Response::new(Body::from(Bytes::from(kept.body.clone())));
    *response.status_mut() = StatusCode::from_u16(kept.status).unwrap_or(StatusCode::OK);
    let headers = response.headers_mut();
    if let Some(t) = kept
        .content_type
        .as_deref()
        .and_then(|t| HeaderValue::from_str(t).ok())
    {
        headers.insert(CONTENT_TYPE, t);
    }
    headers.insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    response
}

fn in_progress() -> GatewayError {
    GatewayError::new(
        tonic::Code::Aborted,
        "IDEMPOTENCY_KEY_IN_PROGRESS",
        "a request with this Idempotency-Key is still in progress; retry once it has finished",
    )
    .with_detail("field", "Idempotency-Key")
}

fn reused() -> GatewayError {
    let mut e = GatewayError::bad_request(
        "Idempotency-Key",
        "this Idempotency-Key was already used with a different request (body, path or query); send a new key for a new request",
    );
    e.code = "IDEMPOTENCY_KEY_REUSED".into();
    e.extra = Some(Box::new(crate::error::Extra {
        http: Some(StatusCode::UNPROCESSABLE_ENTITY),
        ..Default::default()
    }));
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_platform::PrincipalKind;

    fn post(key: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(KEY_HEADER, HeaderValue::from_str(key).unwrap());
        h
    }

    async fn begin(store: &IdempotencyStore, key: &str, body: &str) -> Result<Begin, GatewayError> {
        let caller = Principal::new(PrincipalKind::User, "w1", "u1");
        store
            .begin(
                &Method::POST,
                &"/api/things".parse().unwrap(),
                &post(key),
                &caller,
                IpAddr::from([127, 0, 0, 1]),
                body.as_bytes(),
            )
            .await
    }

    fn answer(status: StatusCode, body: &'static str) -> Response {
        let mut r = Response::new(Body::from(body));
        *r.status_mut() = status;
        r
    }

    #[tokio::test]
    async fn a_running_key_is_in_progress_then_replayed_and_guarded() {
        let store = IdempotencyStore::default();
        let Begin::Claimed(claim) = begin(&store, "k", "{}").await.unwrap() else {
            panic!("first use claims")
        };
        let Err(e) = begin(&store, "k", "{}").await else {
            panic!("in flight")
        };
        assert_eq!(e.code, "IDEMPOTENCY_KEY_IN_PROGRESS");
        assert_eq!(e.http_status(), StatusCode::CONFLICT);
        claim
            .finish(answer(StatusCode::CREATED, "{\"id\":1}"))
            .await;
        let Begin::Replay(r) = begin(&store, "k", "{}").await.unwrap() else {
            panic!("replayed")
        };
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(r.headers()[REPLAYED_HEADER], "true");
        let Err(e) = begin(&store, "k", "{\"other\":1}").await else {
            panic!("reused")
        };
        assert_eq!(e.code, "IDEMPOTENCY_KEY_REUSED");
        assert_eq!(e.http_status(), StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[tokio::test]
    async fn server_errors_and_abandoned_calls_let_the_retry_run() {
        let store = IdempotencyStore::default();
        let Begin::Claimed(claim) = begin(&store, "k", "{}").await.unwrap() else {
            panic!()
        };
        claim
            .finish(answer(StatusCode::SERVICE_UNAVAILABLE, "{}"))
            .await;
        let Begin::Claimed(claim) = begin(&store, "k", "{}").await.unwrap() else {
            panic!("a 503 is not kept")
        };
        drop(claim);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(matches!(
            begin(&store, "k", "{}").await.unwrap(),
            Begin::Claimed(_)
        ));
    }

    #[tokio::test]
    async fn keys_are_bounded_and_ignored_off_post() {
        let store = IdempotencyStore::default();
        assert!(begin(&store, &"x".repeat(256), "{}").await.is_err());
        assert!(begin(&store, &"x".repeat(255), "{}").await.is_ok());
        let caller = Principal::anonymous();
        let got = store
            .begin(
                &Method::GET,
                &"/api/things".parse().unwrap(),
                &post("k"),
                &caller,
                IpAddr::from([127, 0, 0, 1]),
                b"",
            )
            .await
            .unwrap();
        assert!(matches!(got, Begin::NotRequested));
    }
}
