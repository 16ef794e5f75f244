//! Reflection on the gateway's port (what `grpcurl list` and `describe` use): the public
//! API and the standard services, never an internal one; a client per protocol version.

use super::{INTERNAL_SERVICES, PUBLIC_SERVICES, STANDARD_SERVICES, channel};
use crate::helpers::TestApp;
use std::collections::BTreeSet;
use tonic::Code;

/// What `grpcurl -plaintext HOST:PORT list` does: reflection on the gateway's port lists the
/// public API and the standard services, never an internal one, in v1 and v1alpha alike.
#[tokio::test(flavor = "multi_thread")]
async fn reflection_lists_the_public_api_and_nothing_internal() {
    let app = TestApp::spawn().await;
    let v1 = reflection_v1::list_services(&app.base).await;
    let v1alpha = reflection_v1alpha::list_services(&app.base).await;
    assert_eq!(v1, v1alpha, "both versions list the same");
    let expected: BTreeSet<String> = PUBLIC_SERVICES
        .iter()
        .chain(&STANDARD_SERVICES)
        .map(|s| (*s).to_owned())
        .collect();
    assert_eq!(v1, expected);

    // Describing a public service (`grpcurl describe`) shows its file without the internal
    // service that shares it; asking for the internal one finds nothing.
    let file = reflection_v1::file_containing(&app.base, "crm.auth.v1.AuthService")
        .await
        .expect("AuthService is described");
    let services: Vec<&str> = file
        .service
        .iter()
        .filter_map(|s| s.name.as_deref())
        .collect();
    assert!(services.contains(&"AuthService"), "{services:?}");
    assert!(!services.contains(&"KeyValidationService"), "{services:?}");
    for internal in INTERNAL_SERVICES {
        let err = reflection_v1::file_containing(&app.base, internal)
            .await
            .expect_err(internal);
        assert_eq!(err, Code::NotFound as i32, "{internal}");
        let err = reflection_v1alpha::file_containing(&app.base, internal)
            .await
            .expect_err(internal);
        assert_eq!(err, Code::NotFound as i32, "{internal} (v1alpha)");
    }
    app.stack.stop().await;
}

/// A reflection client per protocol version (the generated types differ, the calls do not).
macro_rules! reflection_client {
    ($module:ident, $pb:path) => {
        mod $module {
            use prost::Message;
            use std::collections::BTreeSet;
            use $pb::{
                ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
                server_reflection_request::MessageRequest,
                server_reflection_response::MessageResponse,
            };

            /// The answer to one request, or the status code of a refusal (a failed lookup
            /// can come as either an error answer or a status, depending on the server).
            async fn ask(base: &str, request: MessageRequest) -> Result<MessageResponse, i32> {
                let mut client = ServerReflectionClient::new(super::channel(base).await);
                let request = ServerReflectionRequest {
                    host: String::new(),
                    message_request: Some(request),
                };
                let mut answers = client
                    .server_reflection_info(tokio_stream::iter([request]))
                    .await
                    .map_err(|s| s.code() as i32)?
                    .into_inner();
                match answers.message().await {
                    Ok(answer) => Ok(answer.and_then(|a| a.message_response).expect("an answer")),
                    Err(status) => Err(status.code() as i32),
                }
            }

            /// `ListServices`.
            pub async fn list_services(base: &str) -> BTreeSet<String> {
                match ask(base, MessageRequest::ListServices(String::new())).await {
                    Ok(MessageResponse::ListServicesResponse(list)) => {
                        list.service.into_iter().map(|s| s.name).collect()
                    }
                    other => panic!("{other:?}"),
                }
            }

            /// `FileContainingSymbol`: the file, or the error code.
            pub async fn file_containing(
                base: &str,
                symbol: &str,
            ) -> Result<prost_types::FileDescriptorProto, i32> {
                match ask(base, MessageRequest::FileContainingSymbol(symbol.into())).await? {
                    MessageResponse::FileDescriptorResponse(files) => {
                        let first = files.file_descriptor_proto.first().expect("a file");
                        Ok(prost_types::FileDescriptorProto::decode(first.as_slice()).unwrap())
                    }
                    MessageResponse::ErrorResponse(e) => Err(e.error_code),
                    other => panic!("{other:?}"),
                }
            }
        }
    };
}

reflection_client!(reflection_v1, tonic_reflection::pb::v1);
reflection_client!(reflection_v1alpha, tonic_reflection::pb::v1alpha);
