//! The routing table, read once at start-up from the descriptor set: for every RPC its gRPC
//! path, message types, owning backend, authorization rule and REST bindings.

use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, MethodDescriptor, Value};
use std::{collections::HashMap, sync::Arc};

/// How a method is authorized (from `crm.options.v1.auth`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// No credentials.
    Public,
    /// A user token only.
    JwtOnly,
    /// A user token, or a key holding all these scopes.
    Scoped(Vec<String>),
    /// Never reachable from outside.
    Internal,
    /// No credentials needed, but a user token, when sent, is verified and names the caller;
    /// API keys are refused.
    OptionalUser,
}

/// One RPC.
#[derive(Debug)]
pub struct MethodInfo {
    /// `/crm.auth.v1.ApiKeyService/CreateApiKey`.
    pub grpc_path: String,
    /// `ApiKeyService.CreateApiKey`, used as OpenAPI operation id.
    pub operation_id: String,
    /// Request type.
    pub input: MessageDescriptor,
    /// Response type.
    pub output: MessageDescriptor,
    /// Which backend serves it (`auth`, `pipeline`, ...).
    pub backend: String,
    /// Authorization rule.
    pub access: Access,
    /// Leading comment of the RPC, for the docs.
    pub description: String,
    /// Whether responses need unset presence fields spelled out as `null`.
    pub output_needs_nulls: bool,
    /// The route's own requests per minute (`rate_limit_per_minute`), 0 = none.
    pub rate_limit_per_minute: u32,
    /// Whose calls that limit counts together (`rate_limit_scope`).
    pub rate_limit_scope: RouteLimitScope,
}

/// Who shares a route limit's bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RouteLimitScope {
    /// Each caller.
    #[default]
    Caller,
    /// Every caller of one workspace.
    Workspace,
    /// Every call from one client address.
    Address,
}

/// One REST binding of an RPC.
#[derive(Debug, Clone)]
pub struct RestBinding {
    /// HTTP method.
    pub method: http::Method,
    /// Path template with `{field}` variables (shared: each logged request names it).
    pub path: Arc<str>,
    /// `*` (whole body is the request), empty (no body) or a field name.
    pub body: String,
    /// The RPC.
    pub rpc: Arc<MethodInfo>,
}

/// Everything the gateway routes.
pub struct RouteTable {
    /// REST bindings in declaration order.
    pub bindings: Vec<RestBinding>,
    /// RPCs by gRPC path.
    pub methods: HashMap<String, Arc<MethodInfo>>,
}

/// The descriptor set could not be read into a route table.
#[derive(Debug, thiserror::Error)]
#[error("route table: {0}")]
pub struct TableError(String);

impl RouteTable {
    /// Builds the table from an encoded descriptor set.
    pub fn from_descriptor_set(bytes: &[u8]) -> Result<(Self, DescriptorPool), TableError> {
        let pool = DescriptorPool::decode(bytes).map_err(|e| TableError(e.to_string()))?;
        let http_ext = pool
            .get_extension_by_name("google.api.http")
            .ok_or_else(|| TableError("google.api.http extension missing".into()))?;
        let auth_ext = pool
            .get_extension_by_name("crm.options.v1.auth")
            .ok_or_else(|| TableError("crm.options.v1.auth extension missing".into()))?;
        let mut bindings = Vec::new();
        let mut methods = HashMap::new();
        for service in pool.services() {
            let Some(backend) = backend_of(service.package_name()) else {
                continue;
            };
            for method in service.methods() {
                let options = method.options();
                let (access, (rate_limit_per_minute, rate_limit_scope)) =
                    if options.has_extension(&auth_ext) {
                        let rule = options.get_extension(&auth_ext);
                        (access_of(&rule), route_limit_of(&rule))
                    } else {
                        // An RPC without an auth rule is never exposed: fail closed.
                        (Access::Internal, (0, RouteLimitScope::Caller))
                    };
                let info = Arc::new(MethodInfo {
                    grpc_path: format!("/{}/{}", service.full_name(), method.name()),
                    operation_id: format!("{}.{}", service.name(), method.name()),
                    input: method.input(),
                    output: method.output(),
                    backend: backend.to_owned(),
                    access: access.clone(),
                    description: comments(&method),
                    output_needs_nulls: super::response::needs_nulls(&method.output()),
                    rate_limit_per_minute,
                    rate_limit_scope,
                });
                methods.insert(info.grpc_path.clone(), info.clone());
                if access == Access::Internal || !options.has_extension(&http_ext) {
                    continue;
                }
                if let Value::Message(rule) = options.get_extension(&http_ext).as_ref() {
                    collect_bindings(rule, &info, &mut bindings)?;
                }
            }
        }
        Ok((Self { bindings, methods }, pool))
    }
}

fn backend_of(package: &str) -> Option<&str> {
    let mut parts = package.split('.');
    (parts.next()? == "crm").then_some(())?;
    let name = parts.next()?;
    (name != "options").then_some(name)
}

fn access_of(value: &Value) -> Access {
    let Value::Message(rule) = value else {
        return Access::Internal;
    };
    let access = rule
        .get_field_by_name("access")
        .and_then(|v| v.as_enum_number())
        .unwrap_or(0);
    let scopes: Vec<String> = rule
        .get_field_by_name("scopes")
        .and_then(|v| {
            v.as_list().map(|l| {
                l.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
        })
        .unwrap_or_default();
    access_from(access, scopes)
}

/// The `crm.options.v1.Access` value `access` as a rule; unknown values fail closed.
fn access_from(access: i32, scopes: Vec<String>) -> Access {
    use crm_proto::crm::options::v1::Access as Wire;
    match Wire::try_from(access).unwrap_or(Wire::Unspecified) {
        Wire::Public => Access::Public,
        Wire::JwtOnly => Access::JwtOnly,
        Wire::Scoped => Access::Scoped(scopes),
        Wire::OptionalUser => Access::OptionalUser,
        Wire::Internal | Wire::Unspecified => Access::Internal,
    }
}

fn route_limit_of(value: &Value) -> (u32, RouteLimitScope) {
    use crm_proto::crm::options::v1::RateLimitScope as Wire;
    let Value::Message(rule) = value else {
        return (0, RouteLimitScope::Caller);
    };
    let limit = rule
        .get_field_by_name("rate_limit_per_minute")
        .and_then(|v| v.as_u32())
        .unwrap_or(0);
    let scope = rule
        .get_field_by_name("rate_limit_scope")
        .and_then(|v| v.as_enum_number())
        .and_then(|n| Wire::try_from(n).ok());
    let scope = match scope {
        Some(Wire::Workspace) => RouteLimitScope::Workspace,
        Some(Wire::Address) => RouteLimitScope::Address,
        Some(Wire::Caller) | None => RouteLimitScope::Caller,
    };
    (limit, scope)
}

fn collect_bindings(
    rule: &DynamicMessage,
    info: &Arc<MethodInfo>,
    out: &mut Vec<RestBinding>,
) -> Result<(), TableError> {
    let verbs = [
        ("get", http::Method::GET),
        ("put", http::Method::PUT),
        ("post", http::Method::POST),
        ("delete", http::Method::DELETE),
        ("patch", http::Method::PATCH),
    ];
    let body = rule
        .get_field_by_name("body")
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    for (name, method) in verbs {
        if rule.has_field_by_name(name)
            && let Some(path) = rule
                .get_field_by_name(name)
                .and_then(|v| v.as_str().map(str::to_owned))
        {
            if !path.starts_with('/') || path.contains('=') || path.contains("**") {
                return Err(TableError(format!(
                    "{}: unsupported path template {path}",
                    info.grpc_path
                )));
            }
            out.push(RestBinding {
                method,
                path: path.into(),
                body: body.clone(),
                rpc: info.clone(),
            });
        }
    }
    if let Some(extra) = rule.get_field_by_name("additional_bindings")
        && let Some(list) = extra.as_list()
    {
        for b in list {
            if let Value::Message(m) = b {
                collect_bindings(m, info, out)?;
            }
        }
    }
    Ok(())
}

fn comments(method: &MethodDescriptor) -> String {
    method
        .method_descriptor_proto()
        .name
        .as_ref()
        .and_then(|_| {
            let file = method.parent_file();
            let loc = file.file_descriptor_proto().source_code_info.as_ref()?;
            let path = method.path();
            loc.location
                .iter()
                .find(|l| l.path == path)
                .and_then(|l| l.leading_comments.clone())
        })
        .map(|c| c.trim().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_http_rules_and_auth_options_from_the_descriptor_set() {
        let (table, _) = RouteTable::from_descriptor_set(crm_proto::FILE_DESCRIPTOR_SET).unwrap();
        let create = table
            .methods
            .get("/crm.auth.v1.ApiKeyService/CreateApiKey")
            .unwrap();
        assert_eq!(create.access, Access::JwtOnly);
        assert_eq!(create.rate_limit_per_minute, 0);
        assert_eq!(
            table
                .methods
                .get("/crm.auth.v1.AuthService/ListAgents")
                .unwrap()
                .rate_limit_per_minute,
            100,
            "seed 004: agents API 100/min"
        );
        assert_eq!(create.backend, "auth");
        let paths: Vec<_> = table
            .bindings
            .iter()
            .filter(|b| Arc::ptr_eq(&b.rpc, create))
            .map(|b| (b.method.clone(), &*b.path, b.body.as_str()))
            .collect();
        assert_eq!(
            paths,
            vec![
                (http::Method::POST, "/api/api-keys", "*"),
                (http::Method::POST, "/api/v1/api-keys", "*")
            ]
        );
        let validate = table
            .methods
            .get("/crm.auth.v1.KeyValidationService/ValidateKey")
            .unwrap();
        assert_eq!(validate.access, Access::Internal);
        assert!(
            table
                .bindings
                .iter()
                .all(|b| b.rpc.access != Access::Internal)
        );
        assert_eq!(
            table
                .methods
                .get("/crm.auth.v1.AuthService/Login")
                .unwrap()
                .access,
            Access::Public
        );
        assert!(create.description.is_empty() || !create.description.contains("//"));
    }

    #[test]
    fn maps_every_access_value_and_fails_closed_on_unknown_ones() {
        let scopes = || vec!["contacts:read".to_owned()];
        assert_eq!(access_from(0, scopes()), Access::Internal);
        assert_eq!(access_from(1, scopes()), Access::Public);
        assert_eq!(access_from(2, scopes()), Access::JwtOnly);
        assert_eq!(access_from(3, scopes()), Access::Scoped(scopes()));
        assert_eq!(access_from(4, scopes()), Access::Internal);
        assert_eq!(access_from(5, scopes()), Access::OptionalUser);
        assert_eq!(access_from(99, scopes()), Access::Internal);
    }
}
