//! What the gateway shows reflection clients (`grpcurl list`, Postman, Evans): the services a
//! caller outside can use, described by our proto files with the internal services and
//! methods taken out, so nothing internal is listed or described.

use crate::transcode::table::{Access, RouteTable};
use prost::{
    Message,
    encoding::{WireType, encode_key, encode_varint},
};
use prost_reflect::{DescriptorPool, DynamicMessage, Value};
use std::collections::BTreeMap;

/// `FileDescriptorProto.service`.
const FILE_SERVICE: i32 = 6;
/// `ServiceDescriptorProto.method`.
const SERVICE_METHOD: i32 = 2;

/// The part of the API a caller outside may discover.
pub struct PublicApi {
    /// Every service with at least one method callable from outside, by full name, with the
    /// backend that serves it. A service whose methods are all internal is not here, nor is
    /// one without methods (nothing to call yet).
    pub services: BTreeMap<String, String>,
    /// An encoded `FileDescriptorSet` of every file of the API, each without the services and
    /// methods above leaves out. Custom options (`google.api.http`, `crm.options.v1.auth`) and
    /// the comments of what is left stay.
    pub descriptor_set: Vec<u8>,
}

/// The descriptor set could not be filtered.
#[derive(Debug, thiserror::Error)]
#[error("public descriptors: {0}")]
pub struct PublicApiError(String);

impl PublicApi {
    /// The public part of `pool`, as `table` (built from the same pool) judges its methods.
    pub fn new(table: &RouteTable, pool: &DescriptorPool) -> Result<Self, PublicApiError> {
        let is_public = |service: &str, method: &str| {
            table
                .methods
                .get(&format!("/{service}/{method}"))
                .is_some_and(|rpc| rpc.access != Access::Internal)
        };
        let mut services = BTreeMap::new();
        for rpc in table.methods.values() {
            if rpc.access == Access::Internal {
                continue;
            }
            if let Some((service, _)) = rpc.grpc_path.trim_start_matches('/').split_once('/') {
                services.insert(service.to_owned(), rpc.backend.clone());
            }
        }
        let file_type = pool
            .get_message_by_name("google.protobuf.FileDescriptorProto")
            .ok_or_else(|| PublicApiError("google/protobuf/descriptor.proto missing".into()))?;
        let mut descriptor_set = Vec::new();
        for file in pool.files() {
            // Decoded as a dynamic message rather than `prost_types`, which would drop the
            // custom options.
            let mut bytes = file.encode_to_vec();
            if file.services().len() > 0 {
                let mut proto = DynamicMessage::decode(file_type.clone(), bytes.as_slice())
                    .map_err(|e| PublicApiError(format!("{}: {e}", file.name())))?;
                keep_public(&mut proto, file.package_name(), is_public);
                bytes = proto.encode_to_vec();
            }
            // `FileDescriptorSet.file` (field 1), one entry per file.
            encode_key(1, WireType::LengthDelimited, &mut descriptor_set);
            encode_varint(bytes.len() as u64, &mut descriptor_set);
            descriptor_set.extend_from_slice(&bytes);
        }
        Ok(Self {
            services,
            descriptor_set,
        })
    }
}

/// Where a service of the original file went: its new index and each method's, `None` for
/// what was removed.
type Kept = Vec<Option<(i32, Vec<Option<i32>>)>>;

/// Removes from `file` (a `FileDescriptorProto`) the methods `is_public` refuses and the
/// services left without any, and renumbers the comments of what stays.
fn keep_public(file: &mut DynamicMessage, package: &str, is_public: impl Fn(&str, &str) -> bool) {
    let services = match file.take_field_by_name("service") {
        Some(Value::List(services)) => services,
        _ => return,
    };
    let mut kept: Kept = Vec::with_capacity(services.len());
    let mut public_services = Vec::new();
    for service in services {
        let Value::Message(mut service) = service else {
            kept.push(None);
            continue;
        };
        let name = name_of(&service);
        let full_name = if package.is_empty() {
            name
        } else {
            format!("{package}.{name}")
        };
        let methods = match service.take_field_by_name("method") {
            Some(Value::List(methods)) => methods,
            _ => Vec::new(),
        };
        let mut method_index = Vec::with_capacity(methods.len());
        let mut public_methods = Vec::new();
        for method in methods {
            let public = method
                .as_message()
                .is_some_and(|m| is_public(&full_name, &name_of(m)));
            if public {
                method_index.push(Some(public_methods.len() as i32));
                public_methods.push(method);
            } else {
                method_index.push(None);
            }
        }
        if public_methods.is_empty() {
            kept.push(None);
            continue;
        }
        service.set_field_by_name("method", Value::List(public_methods));
        kept.push(Some((public_services.len() as i32, method_index)));
        public_services.push(Value::Message(service));
    }
    file.set_field_by_name("service", Value::List(public_services));
    // Comments are located by index paths (service 3, method 2); removing elements shifts
    // the indices, so each location is renumbered or, for what was removed, dropped.
    if let Some(locations) = file
        .get_field_by_name_mut("source_code_info")
        .and_then(Value::as_message_mut)
        .and_then(|info| info.get_field_by_name_mut("location"))
        .and_then(Value::as_list_mut)
    {
        locations.retain_mut(|location| renumber(location, &kept));
    }
}

fn name_of(message: &DynamicMessage) -> String {
    message
        .get_field_by_name("name")
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Renumbers a `SourceCodeInfo.Location` under a service; false when it describes something
/// removed.
fn renumber(location: &mut Value, kept: &Kept) -> bool {
    let Some(path) = location
        .as_message_mut()
        .and_then(|l| l.get_field_by_name_mut("path"))
        .and_then(Value::as_list_mut)
    else {
        return true;
    };
    if path.len() < 2 || path[0].as_i32() != Some(FILE_SERVICE) {
        return true;
    }
    let Some(Some((service, methods))) = index(&path[1]).and_then(|s| kept.get(s)) else {
        return false;
    };
    path[1] = Value::I32(*service);
    if path.len() >= 4 && path[2].as_i32() == Some(SERVICE_METHOD) {
        let Some(Some(method)) = index(&path[3]).and_then(|m| methods.get(m)) else {
            return false;
        };
        path[3] = Value::I32(*method);
    }
    true
}

fn index(value: &Value) -> Option<usize> {
    value.as_i32().and_then(|i| usize::try_from(i).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public_api() -> (PublicApi, DescriptorPool) {
        let (table, pool) =
            RouteTable::from_descriptor_set(crm_proto::FILE_DESCRIPTOR_SET).expect("route table");
        (PublicApi::new(&table, &pool).expect("public api"), pool)
    }

    fn leading_comment(pool: &DescriptorPool, service: &str, method: &str) -> Option<String> {
        let method = pool
            .get_service_by_name(service)?
            .methods()
            .find(|m| m.name() == method)?;
        let file = method.parent_file();
        let info = file.file_descriptor_proto().source_code_info.as_ref()?;
        info.location
            .iter()
            .find(|l| l.path == method.path())
            .and_then(|l| l.leading_comments.clone())
    }

    #[test]
    fn internal_services_and_methods_are_neither_listed_nor_described() {
        let (api, _) = public_api();
        assert!(api.services.contains_key("crm.auth.v1.AuthService"));
        assert_eq!(api.services["crm.pipeline.v1.PipelineService"], "pipeline");
        for internal in [
            "crm.auth.v1.KeyValidationService",
            "crm.webhooks.v1.EventSinkService",
        ] {
            assert!(!api.services.contains_key(internal), "{internal} listed");
        }
        let public = DescriptorPool::decode(api.descriptor_set.as_slice()).expect("valid set");
        let mut described: Vec<String> = public
            .services()
            .map(|s| s.full_name().to_owned())
            .collect();
        described.sort();
        assert_eq!(
            described,
            api.services.keys().cloned().collect::<Vec<_>>(),
            "every listed service is described, nothing else"
        );
        for service in public.services() {
            for method in service.methods() {
                let options = method.options();
                let auth = public.get_extension_by_name("crm.options.v1.auth").unwrap();
                let rule = options.get_extension(&auth);
                let access = rule
                    .as_message()
                    .and_then(|r| r.get_field_by_name("access"))
                    .and_then(|a| a.as_enum_number());
                assert_ne!(access, Some(4), "{} is internal", method.full_name());
            }
        }
    }

    #[test]
    fn custom_options_and_comments_survive_the_filtering() {
        let (api, original) = public_api();
        let public = DescriptorPool::decode(api.descriptor_set.as_slice()).unwrap();
        let get_me = public
            .get_service_by_name("crm.auth.v1.AuthService")
            .unwrap()
            .methods()
            .find(|m| m.name() == "GetMe")
            .unwrap();
        let http = public.get_extension_by_name("google.api.http").unwrap();
        assert!(get_me.options().has_extension(&http), "http rule kept");
        // Every remaining method keeps its own comment, though indices moved.
        let mut compared = 0;
        for service in public.services() {
            for method in service.methods() {
                let name = service.full_name();
                assert_eq!(
                    leading_comment(&public, name, method.name()),
                    leading_comment(&original, name, method.name()),
                    "{}",
                    method.full_name()
                );
                compared += 1;
            }
        }
        assert!(compared > 20, "{compared}");
    }

    #[test]
    fn removed_elements_take_their_comments_along_and_the_rest_are_renumbered() {
        use prost_types::{
            FileDescriptorProto, MethodDescriptorProto, ServiceDescriptorProto, SourceCodeInfo,
            source_code_info::Location,
        };
        let method = |name: &str| MethodDescriptorProto {
            name: Some(name.into()),
            input_type: Some(".google.protobuf.Empty".into()),
            output_type: Some(".google.protobuf.Empty".into()),
            ..Default::default()
        };
        let service = |name: &str, methods: &[&str]| ServiceDescriptorProto {
            name: Some(name.into()),
            method: methods.iter().map(|m| method(m)).collect(),
            ..Default::default()
        };
        let located = |path: &[i32], comment: &str| Location {
            path: path.to_vec(),
            leading_comments: Some(comment.into()),
            ..Default::default()
        };
        let file = FileDescriptorProto {
            name: Some("t.proto".into()),
            package: Some("t".into()),
            service: vec![
                service("Hidden", &["H"]),
                service("Shown", &["Secret", "Open"]),
            ],
            source_code_info: Some(SourceCodeInfo {
                location: vec![
                    located(&[6, 0], "hidden service"),
                    located(&[6, 0, 2, 0], "hidden method"),
                    located(&[6, 1], "shown service"),
                    located(&[6, 1, 2, 0], "secret method"),
                    located(&[6, 1, 2, 1], "open method"),
                    located(&[4, 0], "a message"),
                ],
            }),
            ..Default::default()
        };
        let (_, pool) = RouteTable::from_descriptor_set(crm_proto::FILE_DESCRIPTOR_SET).unwrap();
        let file_type = pool
            .get_message_by_name("google.protobuf.FileDescriptorProto")
            .unwrap();
        let mut proto = DynamicMessage::decode(file_type, file.encode_to_vec().as_slice()).unwrap();
        keep_public(&mut proto, "t", |service, method| {
            (service, method) == ("t.Shown", "Open")
        });
        let filtered = FileDescriptorProto::decode(proto.encode_to_vec().as_slice()).unwrap();
        assert_eq!(filtered.service, vec![service("Shown", &["Open"])]);
        let locations: Vec<(Vec<i32>, String)> = filtered
            .source_code_info
            .unwrap()
            .location
            .into_iter()
            .map(|l| (l.path, l.leading_comments.unwrap()))
            .collect();
        assert_eq!(
            locations,
            vec![
                (vec![6, 0], "shown service".to_owned()),
                (vec![6, 0, 2, 0], "open method".to_owned()),
                (vec![4, 0], "a message".to_owned()),
            ]
        );
    }
}
