//! The transactional outbox. A service writes each domain event into its own `outbox` table in
//! the same transaction as the change it describes, so an event exists exactly when its change
//! does. [`Relay`] then pushes queued events to the sink (svc-webhooks) at least once, in the
//! order they were written; the sink stores them idempotently by event id. Undelivered rows
//! stay in the table across restarts and sink outages.

use crate::principal::{Principal, PrincipalVerifier};
use chrono::{DateTime, Utc};
use crm_proto::webhooks::{
    DomainEvent, PublishEventsRequest, event_sink_service_client::EventSinkServiceClient,
};
use sea_orm::sea_query::{Index, Table};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, FromQueryResult, TransactionTrait,
    sea_query::{Alias, Expr, ExprTrait, LockBehavior, LockType, Order, Query},
};
use sea_orm_migration::{SchemaManager, schema::*};
use std::{sync::Arc, time::Duration};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

const TABLE: &str = "outbox";
/// Events sent per `PublishEvents` call.
const BATCH: u64 = 100;
/// How often the relay looks for work when nothing nudged it.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// Longest wait between attempts while the sink is failing.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A domain event to record.
#[derive(Clone, Debug)]
pub struct Event {
    /// Workspace the event belongs to.
    pub workspace_id: String,
    /// `opportunity.created`, `contact.updated`...
    pub event_type: &'static str,
    /// `opportunity`, `contact`...
    pub aggregate_type: &'static str,
    /// Id of the changed record.
    pub aggregate_id: String,
    /// The event body.
    pub payload: serde_json::Value,
}

/// Writes `event` into the outbox on `conn` (pass the transaction of the change).
pub async fn record<C: ConnectionTrait>(conn: &C, event: Event) -> Result<String, DbErr> {
    // Time-ordered (UUIDv7, monotonic within the process): events written in the same
    // millisecond still sort in the order they happened, here and at the sink.
    let id = uuid::Uuid::now_v7().to_string();
    let now = now_millis();
    let insert = Query::insert()
        .into_table(Alias::new(TABLE))
        .columns([
            Alias::new("id"),
            Alias::new("workspace_id"),
            Alias::new("event_type"),
            Alias::new("aggregate_type"),
            Alias::new("aggregate_id"),
            Alias::new("payload"),
            Alias::new("created_at"),
            Alias::new("attempts"),
            Alias::new("next_attempt_at"),
        ])
        .values_panic([
            id.clone().into(),
            event.workspace_id.into(),
            event.event_type.into(),
            event.aggregate_type.into(),
            event.aggregate_id.into(),
            event.payload.to_string().into(),
            now.into(),
            0i32.into(),
            now.into(),
        ])
        .to_owned();
    conn.execute(&insert).await?;
    Ok(id)
}

/// Creates the `outbox` table; called from each owning service's migrations.
pub async fn create_table(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Alias::new(TABLE))
                .if_not_exists()
                .col(string(Alias::new("id")).primary_key())
                .col(string(Alias::new("workspace_id")))
                .col(string(Alias::new("event_type")))
                .col(string(Alias::new("aggregate_type")))
                .col(string(Alias::new("aggregate_id")))
                .col(text(Alias::new("payload")))
                .col(timestamp_with_time_zone(Alias::new("created_at")))
                .col(integer(Alias::new("attempts")))
                .col(timestamp_with_time_zone(Alias::new("next_attempt_at")))
                .col(timestamp_with_time_zone_null(Alias::new("delivered_at")))
                .col(text_null(Alias::new("last_error")))
                .to_owned(),
        )
        .await?;
    // The relay's one query: undelivered rows, due, oldest first.
    manager
        .create_index(
            Index::create()
                .name("idx_outbox_pending")
                .table(Alias::new(TABLE))
                .col(Alias::new("delivered_at"))
                .col(Alias::new("next_attempt_at"))
                .col(Alias::new("created_at"))
                .to_owned(),
        )
        .await
}

#[derive(Debug, FromQueryResult)]
struct Row {
    id: String,
    workspace_id: String,
    event_type: String,
    aggregate_type: String,
    aggregate_id: String,
    payload: String,
    created_at: DateTime<Utc>,
    attempts: i32,
}

/// Counts of the outbox, for readiness and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Backlog {
    /// Events written but not yet accepted by the sink.
    pub pending: u64,
    /// Events the sink has accepted.
    pub delivered: u64,
}

/// How many events are pending and delivered, counted in one query so the two agree.
pub async fn backlog(db: &DatabaseConnection) -> Result<Backlog, DbErr> {
    #[derive(FromQueryResult)]
    struct Counts {
        total: i64,
        delivered: i64,
    }
    let mut q = Query::select();
    q.expr_as(Expr::col(Alias::new("id")).count(), Alias::new("total"))
        .expr_as(
            Expr::col(Alias::new("delivered_at")).count(),
            Alias::new("delivered"),
        )
        .from(Alias::new(TABLE));
    let counts = Counts::find_by_statement(db.get_database_backend().build(&q))
        .one(db)
        .await?
        .map_or((0, 0), |c| (c.total, c.delivered));
    let delivered = u64::try_from(counts.1).unwrap_or(0);
    Ok(Backlog {
        pending: u64::try_from(counts.0)
            .unwrap_or(0)
            .saturating_sub(delivered),
        delivered,
    })
}

/// Pushes a service's outbox to the event sink.
#[derive(Clone)]
pub struct Relay {
    db: DatabaseConnection,
    sink: EventSinkServiceClient<Channel>,
    signer: PrincipalVerifier,
    source: &'static str,
    nudge: Arc<Notify>,
}

impl Relay {
    /// A relay for `db`'s outbox, delivering to the sink at `sink_url` as service `source`.
    pub fn new(
        db: DatabaseConnection,
        sink_url: &str,
        signer: PrincipalVerifier,
        source: &'static str,
    ) -> Result<Self, tonic::transport::Error> {
        let channel = crate::server::peer_channel(sink_url)?;
        Ok(Self {
            db,
            sink: EventSinkServiceClient::new(channel),
            signer,
            source,
            nudge: Arc::new(Notify::new()),
        })
    }

    /// Wakes the relay now instead of at its next poll; call after committing events.
    pub fn nudge(&self) {
        self.nudge.notify_one();
    }

    /// Runs until `shutdown` fires.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut failures = 0u32;
        loop {
            let wait = match self.deliver_batch().await {
                Ok(n) if n as u64 == BATCH => {
                    failures = 0;
                    continue;
                }
                Ok(_) => {
                    failures = 0;
                    IDLE_POLL
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let wait = backoff(failures);
                    tracing::warn!(source = self.source, error = %e, retry_in_ms = wait.as_millis() as u64, "outbox delivery failed; events stay queued");
                    wait
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.nudge.notified(), if failures == 0 => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Sends one batch of due events; returns how many the sink accepted.
    async fn deliver_batch(&self) -> Result<usize, String> {
        if self.db.get_database_backend() == DatabaseBackend::Postgres {
            // Several replicas of a service share one outbox: rows are claimed with
            // `FOR UPDATE SKIP LOCKED` for the length of the transaction.
            let txn = self.db.begin().await.map_err(|e| e.to_string())?;
            let outcome = self.deliver_on(&txn).await;
            txn.commit().await.map_err(|e| e.to_string())?;
            outcome
        } else {
            // SQLite has one writer and no row locks; a transaction that reads and then
            // writes would only risk a lock-upgrade deadlock with the service's own writes.
            self.deliver_on(&self.db).await
        }
    }

    async fn deliver_on<C: ConnectionTrait>(&self, conn: &C) -> Result<usize, String> {
        let backend = conn.get_database_backend();
        let mut select = Query::select();
        select
            .columns([
                Alias::new("id"),
                Alias::new("workspace_id"),
                Alias::new("event_type"),
                Alias::new("aggregate_type"),
                Alias::new("aggregate_id"),
                Alias::new("payload"),
                Alias::new("created_at"),
                Alias::new("attempts"),
            ])
            .from(Alias::new(TABLE))
            .and_where(Expr::col(Alias::new("delivered_at")).is_null())
            .and_where(Expr::col(Alias::new("next_attempt_at")).lte(now_millis()))
            .order_by(Alias::new("created_at"), Order::Asc)
            .order_by(Alias::new("id"), Order::Asc)
            .limit(BATCH);
        if backend == DatabaseBackend::Postgres {
            select.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let rows = Row::find_by_statement(backend.build(&select))
            .all(conn)
            .await
            .map_err(|e| e.to_string())?;
        if rows.is_empty() {
            return Ok(0);
        }
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let events = rows
            .iter()
            .map(|r| DomainEvent {
                id: r.id.clone(),
                workspace_id: r.workspace_id.clone(),
                r#type: r.event_type.clone(),
                aggregate_type: r.aggregate_type.clone(),
                aggregate_id: r.aggregate_id.clone(),
                payload_json: r.payload.clone(),
                occurred_at: Some(prost_types::Timestamp {
                    seconds: r.created_at.timestamp(),
                    nanos: r.created_at.timestamp_subsec_nanos() as i32,
                }),
                source: self.source.to_owned(),
            })
            .collect();
        let mut request = tonic::Request::new(PublishEventsRequest { events });
        self.signer
            .sign_into(&Principal::service(self.source), request.metadata_mut())
            .map_err(|e| e.to_string())?;
        let sent = self.sink.clone().publish_events(request).await;
        let now = now_millis();
        let mut update = Query::update();
        update
            .table(Alias::new(TABLE))
            .and_where(Expr::col(Alias::new("id")).is_in(ids.clone()));
        let outcome = match &sent {
            Ok(_) => {
                update.value(Alias::new("delivered_at"), now);
                Ok(ids.len())
            }
            Err(status) => {
                let attempts = rows.iter().map(|r| r.attempts).max().unwrap_or(0) + 1;
                let retry_at = now
                    + chrono::Duration::from_std(backoff(attempts as u32))
                        .unwrap_or_else(|_| chrono::Duration::seconds(30));
                update
                    .value(Alias::new("attempts"), attempts)
                    .value(Alias::new("next_attempt_at"), retry_at)
                    .value(
                        Alias::new("last_error"),
                        format!("{:?}: {}", status.code(), status.message()),
                    );
                Err(format!("{:?}: {}", status.code(), status.message()))
            }
        };
        conn.execute(&update).await.map_err(|e| e.to_string())?;
        outcome
    }
}

fn backoff(failures: u32) -> Duration {
    let millis = 200u64.saturating_mul(1u64 << Ord::min(failures, 8));
    Duration::from_millis(millis).min(MAX_BACKOFF)
}

fn now_millis() -> DateTime<Utc> {
    use chrono::SubsecRound;
    Utc::now().trunc_subsecs(3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_millis(400));
        assert!(backoff(3) > backoff(2));
        assert_eq!(backoff(50), MAX_BACKOFF);
    }
}
