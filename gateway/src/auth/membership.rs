//! Workspace memberships of user-token callers, as svc-auth answers `CheckMembership`, cached
//! in-process. Every call with a user token reads its role from here, so a role change or a
//! removal must reach the cache quickly: svc-auth announces each change on the bus
//! (`member:<workspace>:<user>`, `user:<user>`) and the matching entries are dropped. The
//! TTL only bounds what a lost message can cost, except while Redis is configured and down:
//! then no message can arrive, and an entry is asked for again once it is a second old.

use crate::{error::GatewayError, redis_link::RedisLink};
use moka::future::Cache;
use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

/// While Redis is configured but away, invalidations cannot arrive: an entry older than this
/// is checked with svc-auth again, so a role change still takes effect within a second.
const TTL_WHILE_REDIS_DOWN: Duration = Duration::from_secs(1);

/// Whose membership of which workspace an entry is. Our own tokens name our user id; an
/// external issuer's tokens name its subject, which svc-auth links to one of our users. The
/// issuer keeps the two apart, so an external subject can never hit an entry of our user
/// with the same id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MembershipKey {
    /// The workspace.
    pub workspace: String,
    /// The external issuer (`iss`); empty for our own tokens.
    pub issuer: String,
    /// Our user id (own tokens) or the issuer's subject (external tokens).
    pub subject: String,
}

impl MembershipKey {
    /// The key of one of our users.
    pub fn own(workspace: &str, user_id: &str) -> Self {
        Self {
            workspace: workspace.to_owned(),
            issuer: String::new(),
            subject: user_id.to_owned(),
        }
    }

    /// The key of an external issuer's subject.
    pub fn external(workspace: &str, issuer: &str, subject: &str) -> Self {
        Self {
            workspace: workspace.to_owned(),
            issuer: issuer.to_owned(),
            subject: subject.to_owned(),
        }
    }

    /// Whether the entry under this key is about our user `user_id`: by the key for our own
    /// tokens, by the user svc-auth linked for external ones.
    fn is_of_user(&self, entry: &CachedMembership, user_id: &str) -> bool {
        (self.issuer.is_empty() && self.subject == user_id)
            || entry.member.as_ref().is_some_and(|m| m.user_id == user_id)
    }
}

/// A member's standing in one workspace.
#[derive(Debug)]
pub struct Membership {
    /// Our user id (for external tokens, the user the subject is linked to).
    pub user_id: String,
    /// Role in the workspace.
    pub role: String,
    /// The user's token version: our tokens minted with an older `ver` are refused.
    pub token_version: u32,
}

/// What svc-auth answered for one key, and when.
#[derive(Debug)]
pub struct CachedMembership {
    /// The membership; `None` when the caller is not a member.
    pub member: Option<Arc<Membership>>,
    loaded_at: Instant,
}

/// The membership cache.
#[derive(Clone)]
pub struct MembershipCache {
    cache: Cache<MembershipKey, Arc<CachedMembership>>,
    redis: Option<RedisLink>,
    /// Bumped by every invalidation: a load that overlapped one may have read the state from
    /// before the change, so its result answers the call that asked but is not kept.
    invalidations: Arc<AtomicU64>,
}

impl MembershipCache {
    /// A cache keeping entries for `ttl` (shorter while `redis` is configured and down).
    pub fn new(ttl: Duration, redis: Option<RedisLink>) -> Self {
        Self {
            cache: Cache::builder()
                .max_capacity(50_000)
                .time_to_live(ttl)
                // `member:` and `user:` messages drop entries by predicate.
                .support_invalidation_closures()
                .build(),
            redis,
            invalidations: Arc::default(),
        }
    }

    /// The cached answer for `key`, or on a miss the one the future made by `load` gives
    /// (concurrent misses of one key load once). `load` runs only on a miss, so a hit costs
    /// no more than the lookup.
    pub async fn get_or_load<F, L>(
        &self,
        key: &MembershipKey,
        load: F,
    ) -> Result<Arc<CachedMembership>, GatewayError>
    where
        F: FnOnce() -> L,
        L: Future<Output = Result<Option<Membership>, GatewayError>> + Send + 'static,
    {
        if let Some(entry) = self.cache.get(key).await {
            if !self.outdated(&entry) {
                return Ok(entry);
            }
            self.cache.invalidate(key).await;
        }
        let epoch = self.invalidations.load(Ordering::Acquire);
        let load = load();
        let entry = self
            .cache
            .try_get_with_by_ref(key, async move {
                let member = load.await?;
                Ok(Arc::new(CachedMembership {
                    member: member.map(Arc::new),
                    loaded_at: Instant::now(),
                }))
            })
            .await
            .map_err(|e: Arc<GatewayError>| (*e).clone())?;
        if self.invalidations.load(Ordering::Acquire) != epoch {
            self.cache.invalidate(key).await;
        }
        Ok(entry)
    }

    /// An entry that no invalidation could have reached: loaded more than a second ago while
    /// Redis (and so the bus between processes) is down.
    fn outdated(&self, entry: &CachedMembership) -> bool {
        let redis_down = self.redis.as_ref().is_some_and(|r| !r.is_up());
        redis_down && entry.loaded_at.elapsed() > TTL_WHILE_REDIS_DOWN
    }

    /// `member:<workspace>:<user>`: the user joined, changed role in or left the workspace.
    /// Drops the user's entries there and every "not a member" answer of the workspace (an
    /// external subject just linked and added is not yet known by our user id).
    pub fn forget_member(&self, workspace: &str, user_id: &str) {
        let (workspace, user_id) = (workspace.to_owned(), user_id.to_owned());
        self.forget_where(move |key, entry| {
            key.workspace == workspace
                && (entry.member.is_none() || key.is_of_user(entry, &user_id))
        });
    }

    /// `user:<user>`: the user's token version rose (password change). Drops every entry of
    /// the user, in every workspace.
    pub fn forget_user(&self, user_id: &str) {
        let user_id = user_id.to_owned();
        self.forget_where(move |key, entry| key.is_of_user(entry, &user_id));
    }

    /// Drops everything (messages may have been missed).
    pub fn forget_all(&self) {
        self.invalidations.fetch_add(1, Ordering::AcqRel);
        self.cache.invalidate_all();
    }

    fn forget_where(
        &self,
        matches: impl Fn(&MembershipKey, &Arc<CachedMembership>) -> bool + Send + Sync + 'static,
    ) {
        self.invalidations.fetch_add(1, Ordering::AcqRel);
        // Reads stop returning matching entries at once; moka removes them later.
        if self.cache.invalidate_entries_if(matches).is_err() {
            // Only when closures are not supported, which `new` enables: stay correct anyway.
            self.cache.invalidate_all();
        }
    }

    /// Entries held (after pending maintenance), for tests.
    #[cfg(test)]
    async fn len(&self) -> u64 {
        self.cache.run_pending_tasks().await;
        self.cache.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn member(user_id: &str, role: &str) -> Option<Membership> {
        Some(Membership {
            user_id: user_id.into(),
            role: role.into(),
            token_version: 0,
        })
    }

    /// Looks `key` up, answering a miss with `answer` and counting the loads.
    async fn lookup(
        cache: &MembershipCache,
        loads: &Arc<AtomicUsize>,
        key: &MembershipKey,
        answer: Option<Membership>,
    ) -> Option<Arc<Membership>> {
        let loads = loads.clone();
        let entry = cache
            .get_or_load(key, || async move {
                loads.fetch_add(1, Ordering::SeqCst);
                Ok(answer)
            })
            .await
            .unwrap();
        entry.member.clone()
    }

    fn cache() -> (MembershipCache, Arc<AtomicUsize>) {
        (
            MembershipCache::new(Duration::from_secs(300), None),
            Arc::default(),
        )
    }

    #[tokio::test]
    async fn a_hit_does_not_load_and_a_member_message_drops_only_that_member() {
        let (cache, loads) = cache();
        let alice = MembershipKey::own("w1", "alice");
        let bob = MembershipKey::own("w1", "bob");
        let alice_w2 = MembershipKey::own("w2", "alice");
        lookup(&cache, &loads, &alice, member("alice", "admin")).await;
        lookup(&cache, &loads, &bob, member("bob", "agent")).await;
        lookup(&cache, &loads, &alice_w2, member("alice", "agent")).await;
        let hit = lookup(&cache, &loads, &alice, None).await;
        assert_eq!(hit.unwrap().role, "admin");
        assert_eq!(loads.load(Ordering::SeqCst), 3);

        cache.forget_member("w1", "alice");
        let reloaded = lookup(&cache, &loads, &alice, member("alice", "viewer")).await;
        assert_eq!(reloaded.unwrap().role, "viewer", "the new role, at once");
        lookup(&cache, &loads, &bob, None).await;
        lookup(&cache, &loads, &alice_w2, None).await;
        assert_eq!(loads.load(Ordering::SeqCst), 4, "bob and w2 still cached");
    }

    #[tokio::test]
    async fn a_member_message_drops_non_members_of_the_workspace() {
        let (cache, loads) = cache();
        // An external subject not linked yet: svc-auth's answer names no user.
        let stranger = MembershipKey::external("w1", "https://issuer", "ext-1");
        let elsewhere = MembershipKey::external("w2", "https://issuer", "ext-1");
        assert!(lookup(&cache, &loads, &stranger, None).await.is_none());
        assert!(lookup(&cache, &loads, &elsewhere, None).await.is_none());
        cache.forget_member("w1", "u-linked");
        let now = lookup(&cache, &loads, &stranger, member("u-linked", "agent")).await;
        assert_eq!(now.unwrap().user_id, "u-linked");
        lookup(&cache, &loads, &elsewhere, None).await;
        assert_eq!(loads.load(Ordering::SeqCst), 3, "w2's answer kept");
    }

    #[tokio::test]
    async fn a_user_message_drops_the_user_everywhere_by_id_or_link() {
        let (cache, loads) = cache();
        let own = MembershipKey::own("w1", "u1");
        let linked = MembershipKey::external("w2", "https://issuer", "ext-1");
        let other = MembershipKey::own("w1", "u2");
        lookup(&cache, &loads, &own, member("u1", "admin")).await;
        lookup(&cache, &loads, &linked, member("u1", "agent")).await;
        lookup(&cache, &loads, &other, member("u2", "agent")).await;
        cache.forget_user("u1");
        lookup(&cache, &loads, &own, member("u1", "admin")).await;
        lookup(&cache, &loads, &linked, member("u1", "agent")).await;
        lookup(&cache, &loads, &other, None).await;
        assert_eq!(loads.load(Ordering::SeqCst), 5, "u2 still cached");
    }

    #[tokio::test]
    async fn our_user_and_an_external_subject_with_the_same_id_do_not_share_an_entry() {
        let (cache, loads) = cache();
        let own = MembershipKey::own("w1", "same-id");
        let external = MembershipKey::external("w1", "https://issuer", "same-id");
        lookup(&cache, &loads, &own, member("same-id", "owner")).await;
        assert!(lookup(&cache, &loads, &external, None).await.is_none());
        assert_eq!(loads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn forget_all_empties_the_cache() {
        let (cache, loads) = cache();
        let key = MembershipKey::own("w1", "u1");
        lookup(&cache, &loads, &key, member("u1", "admin")).await;
        assert_eq!(cache.len().await, 1);
        cache.forget_all();
        assert_eq!(cache.len().await, 0);
    }

    #[tokio::test]
    async fn a_load_overlapping_an_invalidation_answers_but_is_not_kept() {
        let (cache, loads) = cache();
        let key = MembershipKey::own("w1", "u1");
        let during = cache.clone();
        let old = cache
            .get_or_load(&key, || async move {
                // The change lands while svc-auth's (old) answer is on its way.
                during.forget_member("w1", "u1");
                Ok(member("u1", "admin"))
            })
            .await
            .unwrap();
        assert_eq!(old.member.as_ref().unwrap().role, "admin");
        let fresh = lookup(&cache, &loads, &key, member("u1", "viewer")).await;
        assert_eq!(fresh.unwrap().role, "viewer");
    }

    #[tokio::test]
    async fn while_redis_is_down_entries_are_rechecked_after_a_second() {
        // Nothing listens on port 1: the link has never connected, so it reports down.
        let redis = RedisLink::new("redis://127.0.0.1:1", "test:").unwrap();
        let cache = MembershipCache::new(Duration::from_secs(300), Some(redis));
        let loads = Arc::default();
        let key = MembershipKey::own("w1", "u1");
        lookup(&cache, &loads, &key, member("u1", "admin")).await;
        lookup(&cache, &loads, &key, None).await;
        assert_eq!(loads.load(Ordering::SeqCst), 1, "fresh entries still hit");
        tokio::time::sleep(TTL_WHILE_REDIS_DOWN + Duration::from_millis(100)).await;
        let again = lookup(&cache, &loads, &key, member("u1", "viewer")).await;
        assert_eq!(again.unwrap().role, "viewer");
        assert_eq!(loads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_load_is_not_cached() {
        let (cache, loads) = cache();
        let key = MembershipKey::own("w1", "u1");
        let failed = cache
            .get_or_load(&key, || async {
                Err(GatewayError::new(
                    tonic::Code::Unavailable,
                    "AUTH_UNAVAILABLE",
                    "retry",
                ))
            })
            .await;
        assert_eq!(failed.unwrap_err().code, "AUTH_UNAVAILABLE");
        assert!(
            lookup(&cache, &loads, &key, member("u1", "admin"))
                .await
                .is_some()
        );
    }
}
