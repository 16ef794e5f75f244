//! Scope parsing and normalization. Seeds use two shapes: the object
//! `{"opportunities": ["read","write"]}` (004) and scope strings `opportunities:write`
//! (002/003, where bare `read` means read on everything). Both become one sorted set of
//! `resource:action` strings; the object shape is rebuilt from it for responses.

use crm_platform::error::ApiError;
use prost_types::{ListValue, Struct, Value, value::Kind};
use std::collections::{BTreeMap, BTreeSet};

/// Resources a key can be granted, in our own domain words.
const RESOURCES: &[&str] = &[
    "pipelines",
    "opportunities",
    "stages",
    "contacts",
    "tags",
    "analytics",
    "metrics",
    "webhooks",
    "messages",
    "sms",
    "email",
    "sequences",
    "triggers",
    "agents",
    "actions",
    "workspace_members",
    "api_keys",
    "api_clients",
    "usage",
    "calendar",
    "modules",
];

const ACTIONS: &[&str] = &["read", "write", "delete", "export", "execute", "manage"];

/// Names other products use for our resources (seed 003's catalog).
fn alias(resource: &str) -> &str {
    match resource {
        "leads" => "contacts",
        "deals" => "opportunities",
        "records" => "*",
        other => other,
    }
}

/// A validated, normalized set of scopes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(BTreeSet<String>);

impl Scopes {
    /// Parses the stored space-separated form (trusted: written by [`Scopes::to_stored`]).
    pub fn from_stored(stored: &str) -> Self {
        Self(stored.split_whitespace().map(str::to_owned).collect())
    }

    /// Space-separated, sorted.
    pub fn to_stored(&self) -> String {
        self.0.iter().cloned().collect::<Vec<_>>().join(" ")
    }

    /// The scopes as strings.
    pub fn to_vec(&self) -> Vec<String> {
        self.0.iter().cloned().collect()
    }

    /// True when no scope was given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Parses `permissions` (object or list) plus `scopes` strings; `field` names the request
    /// field in errors.
    pub fn parse(permissions: Option<&Value>, scopes: &[String]) -> Result<Self, ApiError> {
        let mut out = BTreeSet::new();
        if let Some(value) = permissions {
            match &value.kind {
                None | Some(Kind::NullValue(_)) => {}
                Some(Kind::StructValue(Struct { fields })) => {
                    for (resource, actions) in fields {
                        let field = format!("permissions.{resource}");
                        let actions = match &actions.kind {
                            Some(Kind::ListValue(ListValue { values })) => values,
                            _ => {
                                return Err(ApiError::invalid_field(
                                    &field,
                                    "must be a list of actions, e.g. [\"read\", \"write\"]",
                                ));
                            }
                        };
                        for action in actions {
                            let Some(Kind::StringValue(action)) = &action.kind else {
                                return Err(ApiError::invalid_field(
                                    &field,
                                    "actions must be strings",
                                ));
                            };
                            out.insert(normalize(resource, action, &field)?);
                        }
                    }
                }
                Some(Kind::ListValue(ListValue { values })) => {
                    for v in values {
                        let Some(Kind::StringValue(s)) = &v.kind else {
                            return Err(ApiError::invalid_field(
                                "permissions",
                                "list entries must be scope strings like \"contacts:read\"",
                            ));
                        };
                        out.insert(parse_one(s, "permissions")?);
                    }
                }
                Some(_) => {
                    return Err(ApiError::invalid_field(
                        "permissions",
                        "must be an object like {\"contacts\": [\"read\"]} or a list like [\"contacts:read\"]",
                    ));
                }
            }
        }
        for s in scopes {
            out.insert(parse_one(s, "scopes")?);
        }
        Ok(Self(out))
    }

    /// The seed-004 object shape: resource → actions.
    pub fn to_permissions(&self) -> Struct {
        let mut grouped: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
        for scope in &self.0 {
            let (resource, action) = scope.split_once(':').unwrap_or((scope.as_str(), "*"));
            grouped.entry(resource).or_default().push(Value {
                kind: Some(Kind::StringValue(action.to_owned())),
            });
        }
        Struct {
            fields: grouped
                .into_iter()
                .map(|(r, a)| {
                    (
                        r.to_owned(),
                        Value {
                            kind: Some(Kind::ListValue(ListValue { values: a })),
                        },
                    )
                })
                .collect(),
        }
    }

    /// True when every scope of `self` is covered by `other` (a key never exceeds its owner).
    pub fn within(&self, granted: &[String]) -> bool {
        self.0.iter().all(|s| {
            granted
                .iter()
                .any(|g| crm_platform::principal::scope_allows(g, s))
        })
    }
}

fn parse_one(s: &str, field: &str) -> Result<String, ApiError> {
    let s = s.trim();
    match s.split_once(':') {
        Some((resource, action)) => normalize(resource, action, field),
        None if s == "*" => Ok("*".to_owned()),
        // Seed 002: a bare action applies to every resource.
        None => normalize("*", s, field),
    }
}

fn normalize(resource: &str, action: &str, field: &str) -> Result<String, ApiError> {
    let resource = resource.trim().to_ascii_lowercase().replace('-', "_");
    let action = action.trim().to_ascii_lowercase();
    let resource = alias(&resource);
    if resource != "*" && !RESOURCES.contains(&resource) {
        return Err(ApiError::invalid_field(
            field,
            format!(
                "unknown resource '{resource}'; known: {}",
                RESOURCES.join(", ")
            ),
        ));
    }
    if action != "*" && !ACTIONS.contains(&action.as_str()) {
        return Err(ApiError::invalid_field(
            field,
            format!("unknown action '{action}'; known: {}", ACTIONS.join(", ")),
        ));
    }
    if resource == "*" && action == "*" {
        return Ok("*".to_owned());
    }
    Ok(format!("{resource}:{action}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value {
            kind: Some(Kind::StringValue(v.into())),
        }
    }

    fn list(v: &[&str]) -> Value {
        Value {
            kind: Some(Kind::ListValue(ListValue {
                values: v.iter().map(|x| s(x)).collect(),
            })),
        }
    }

    #[test]
    fn object_and_strings_normalize_to_the_same_set() {
        let object = Value {
            kind: Some(Kind::StructValue(Struct {
                fields: [
                    ("opportunities".to_owned(), list(&["read", "write"])),
                    ("leads".to_owned(), list(&["read"])),
                ]
                .into_iter()
                .collect(),
            })),
        };
        let a = Scopes::parse(Some(&object), &[]).unwrap();
        let b = Scopes::parse(
            None,
            &[
                "opportunities:write".into(),
                "opportunities:read".into(),
                "contacts:read".into(),
            ],
        )
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(
            a.to_stored(),
            "contacts:read opportunities:read opportunities:write"
        );
        let c = Scopes::parse(
            Some(&list(&["contacts:read"])),
            &["Opportunities:READ".into(), "opportunities:write".into()],
        )
        .unwrap();
        assert_eq!(a, c);
    }

    #[test]
    fn bare_actions_apply_to_everything() {
        let sc = Scopes::parse(None, &["read".into(), "*".into()]).unwrap();
        assert_eq!(sc.to_vec(), vec!["*", "*:read"]);
    }

    #[test]
    fn unknown_names_are_refused_with_the_field() {
        let err = Scopes::parse(None, &["rockets:read".into()])
            .unwrap_err()
            .into_status();
        assert!(err.message().starts_with("scopes:"));
        let err = Scopes::parse(None, &["contacts:fly".into()])
            .unwrap_err()
            .into_status();
        assert!(err.message().contains("unknown action"));
    }

    #[test]
    fn permissions_object_round_trips() {
        let sc = Scopes::parse(None, &["contacts:read".into(), "contacts:write".into()]).unwrap();
        let p = sc.to_permissions();
        let back = Scopes::parse(
            Some(&Value {
                kind: Some(Kind::StructValue(p)),
            }),
            &[],
        )
        .unwrap();
        assert_eq!(sc, back);
    }

    #[test]
    fn within_owner_scopes() {
        let sc = Scopes::parse(None, &["contacts:read".into()]).unwrap();
        assert!(sc.within(&["contacts:*".into()]));
        assert!(!sc.within(&["tags:read".into()]));
    }
}
