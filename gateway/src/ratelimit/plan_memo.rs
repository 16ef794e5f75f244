//! Rate-limit plans kept per key: a key's calls reuse the plan of their route instead of
//! making it again on every call.

use super::policy::{Plan, RateLimitConfig, plan};
use crate::{auth::key_cache::KeyEntry, transcode::table::MethodInfo};
use crm_platform::{Principal, PrincipalKind};
use std::{
    net::IpAddr,
    sync::{Arc, RwLock},
};

/// Most routes whose plans one key keeps.
const MAX_PLANS_PER_KEY: usize = 32;

/// The plans made for one key, by route. A key's plan depends only on its cache entry, the
/// route and the gateway's settings, all fixed while the entry lives (a changed key is a new
/// entry, with no plans), so its calls reuse the plan instead of formatting bucket names,
/// signature and headers' policy again on every call.
#[derive(Default)]
pub struct PlanMemo(RwLock<Vec<(String, Arc<Plan>)>>);

impl PlanMemo {
    /// The plan of `route` (its operation id), made with `make` the first time.
    pub fn get_or_make(&self, route: &str, make: impl FnOnce() -> Plan) -> Arc<Plan> {
        let found = |plans: &[(String, Arc<Plan>)]| {
            plans
                .iter()
                .find(|(r, _)| r == route)
                .map(|(_, p)| p.clone())
        };
        if let Some(plan) = found(&self.0.read().unwrap_or_else(|p| p.into_inner())) {
            return plan;
        }
        let plan = Arc::new(make());
        let mut plans = self.0.write().unwrap_or_else(|p| p.into_inner());
        if let Some(made) = found(&plans) {
            return made;
        }
        if plans.len() < MAX_PLANS_PER_KEY {
            plans.push((route.to_owned(), plan.clone()));
        }
        plan
    }
}

/// A copy starts empty: plans are remade from the copy's own fields.
impl Clone for PlanMemo {
    fn clone(&self) -> Self {
        Self::default()
    }
}

/// Plans follow from the entry's other fields, so they never make two entries differ.
impl PartialEq for PlanMemo {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for PlanMemo {}

impl std::fmt::Debug for PlanMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlanMemo")
    }
}

/// [`plan`], from the key's memo when the caller is an API key.
pub fn plan_shared(
    config: &RateLimitConfig,
    principal: &Principal,
    key: Option<&KeyEntry>,
    route: &MethodInfo,
    ip: IpAddr,
) -> Arc<Plan> {
    match key {
        Some(k) if principal.kind == PrincipalKind::ApiKey => {
            k.plans.get_or_make(&route.operation_id, || {
                plan(config, principal, key, route, ip)
            })
        }
        _ => Arc::new(plan(config, principal, key, route, ip)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::policy::minute_plan;

    #[test]
    fn a_key_makes_its_plan_once_per_route_and_a_copy_makes_its_own() {
        let memo = PlanMemo::default();
        let made = std::cell::Cell::new(0);
        let make = |limit| {
            made.set(made.get() + 1);
            minute_plan(limit)
        };
        let first = memo.get_or_make("AuthService.GetMe", || make(60));
        let again = memo.get_or_make("AuthService.GetMe", || make(60));
        assert!(Arc::ptr_eq(&first, &again));
        let other = memo.get_or_make("ApiKeyService.ListApiKeys", || make(30));
        assert_eq!(other.windows[0].limit, 30);
        assert_eq!(made.get(), 2);
        assert_eq!(first.signature(), "key:k:minute|");
        let copy = memo.clone();
        copy.get_or_make("AuthService.GetMe", || make(60));
        assert_eq!(made.get(), 3);
    }
}
