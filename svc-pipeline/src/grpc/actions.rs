//! `crm.pipeline.v1.ActionService`.

use super::convert::ts;
use crate::domain::{
    PipelineState,
    access::authorize,
    actions::{self, ExecuteRequest},
};
use crate::store::actions::action_executions::Model as Execution;
use crm_platform::Principal;
use crm_proto::pipeline::{self as pb, action_service_server::ActionService};
use serde_json::{Map, Value as Json};
use tonic::{Request, Response, Status};

/// Implements `ActionService`.
pub struct ActionApi {
    pub(crate) state: PipelineState,
}

/// Executions are read with the scope that runs them: a key that only reads contacts does
/// not see what automations were configured with.
const SCOPE: &str = "actions:execute";
/// The metadata entry a gRPC caller (or the gateway, forwarding `Idempotency-Key`) sends.
const IDEMPOTENCY_KEY: &str = "idempotency-key";

fn execution(e: Execution) -> pb::ActionExecution {
    pb::ActionExecution {
        status: e.status,
        result: Some(object(&e.result)),
        executed_at: Some(ts(e.executed_at)),
        duration_ms: e.duration_ms,
        configuration: Some(object(&e.configuration)),
        execution_context: Some(object(&e.execution_context)),
        error: e.error,
        execution_id: e.id,
        action_type: e.action_type,
        contact_id: e.contact_id,
    }
}

#[tonic::async_trait]
impl ActionService for ActionApi {
    async fn execute_action(
        &self,
        request: Request<pb::ExecuteActionRequest>,
    ) -> Result<Response<pb::ExecuteActionResponse>, Status> {
        let principal = Principal::of(&request)?;
        let workspace = authorize(principal, SCOPE)?.to_owned();
        let caller = principal.clone();
        let idempotency_key = request
            .metadata()
            .get(IDEMPOTENCY_KEY)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let r = request.into_inner();
        let executed = actions::execute(
            &self.state,
            &workspace,
            &caller,
            ExecuteRequest {
                action_type: r.action_type,
                contact_id: r.contact_id,
                configuration: r.configuration.map(struct_to_map).unwrap_or_default(),
                execution_context: r.execution_context.map(struct_to_map).unwrap_or_default(),
                idempotency_key,
            },
        )
        .await?;
        Ok(Response::new(pb::ExecuteActionResponse {
            data: Some(execution(executed)),
        }))
    }

    async fn get_action_execution(
        &self,
        request: Request<pb::GetActionExecutionRequest>,
    ) -> Result<Response<pb::GetActionExecutionResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?, SCOPE)?;
        let found = actions::get(&self.state, workspace, &request.get_ref().id).await?;
        Ok(Response::new(pb::GetActionExecutionResponse {
            data: Some(execution(found)),
        }))
    }

    async fn list_action_executions(
        &self,
        request: Request<pb::ListActionExecutionsRequest>,
    ) -> Result<Response<pb::ListActionExecutionsResponse>, Status> {
        let workspace = authorize(Principal::of(&request)?, SCOPE)?;
        let r = request.get_ref();
        let page = actions::list(
            &self.state,
            workspace,
            &r.contact_id,
            r.cursor.as_deref(),
            r.limit,
        )
        .await?;
        Ok(Response::new(pb::ListActionExecutionsResponse {
            data: page.executions.into_iter().map(execution).collect(),
            next_cursor: page.next_cursor,
        }))
    }
}

/// A protobuf `Struct` as the JSON object it stands for.
fn struct_to_map(s: prost_types::Struct) -> Map<String, Json> {
    s.fields
        .into_iter()
        .map(|(k, v)| (k, value_to_json(v)))
        .collect()
}

fn value_to_json(v: prost_types::Value) -> Json {
    use prost_types::value::Kind;
    match v.kind {
        None | Some(Kind::NullValue(_)) => Json::Null,
        Some(Kind::BoolValue(b)) => Json::Bool(b),
        Some(Kind::StringValue(s)) => Json::String(s),
        // Whole numbers stay whole (JSON numbers in a Struct are doubles).
        Some(Kind::NumberValue(n)) if n.fract() == 0.0 && n.abs() < 9.0e15 => Json::from(n as i64),
        Some(Kind::NumberValue(n)) => {
            serde_json::Number::from_f64(n).map_or(Json::Null, Json::Number)
        }
        Some(Kind::StructValue(s)) => Json::Object(struct_to_map(s)),
        Some(Kind::ListValue(l)) => Json::Array(l.values.into_iter().map(value_to_json).collect()),
    }
}

/// Stored JSON object text as a protobuf `Struct` (empty if the text is not an object).
fn object(text: &str) -> prost_types::Struct {
    match serde_json::from_str(text) {
        Ok(Json::Object(map)) => map_to_struct(map),
        _ => prost_types::Struct::default(),
    }
}

fn map_to_struct(map: Map<String, Json>) -> prost_types::Struct {
    prost_types::Struct {
        fields: map
            .into_iter()
            .map(|(k, v)| (k, json_to_value(v)))
            .collect(),
    }
}

fn json_to_value(v: Json) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match v {
        Json::Null => Kind::NullValue(0),
        Json::Bool(b) => Kind::BoolValue(b),
        Json::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Json::String(s) => Kind::StringValue(s),
        Json::Array(a) => Kind::ListValue(prost_types::ListValue {
            values: a.into_iter().map(json_to_value).collect(),
        }),
        Json::Object(o) => Kind::StructValue(map_to_struct(o)),
    };
    prost_types::Value { kind: Some(kind) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_survives_the_round_trip() {
        let text = r#"{"n":3,"r":0.5,"l":["a",null,true],"o":{"x":{}}}"#;
        let back = Json::Object(struct_to_map(object(text)));
        assert_eq!(back, serde_json::from_str::<Json>(text).unwrap());
        assert_eq!(object("[1]"), prost_types::Struct::default());
    }
}
