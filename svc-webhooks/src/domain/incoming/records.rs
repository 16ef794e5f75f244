//! The calls to svc-pipeline that write a hook's record: its own ContactService and
//! OpportunityService, as a service principal of the hook's workspace (signed with the
//! service secret, so svc-pipeline applies the workspace but no role). Field violations it
//! answers are renamed to the payload paths the fields came from.

use super::fields::Module;
use super::mapping::{FieldValue, MappedRecord};
use crm_platform::{Principal, PrincipalKind, error::ApiError, principal::PrincipalVerifier};
use crm_proto::pipeline::{
    self as pb, contact_service_client::ContactServiceClient,
    opportunity_service_client::OpportunityServiceClient,
};
use prost_types::{ListValue, Value, value::Kind};
use tonic::{Code, Request, Status, transport::Channel};
use tonic_types::StatusExt;

/// svc-pipeline as a hook's records see it.
pub struct Pipeline {
    channel: Channel,
    signer: PrincipalVerifier,
}

/// Who a hook's writes are made as: a service principal of the hook's workspace, named for
/// the member who made the hook (records it creates are theirs, as if they had typed them).
pub struct Actor<'a> {
    pub workspace_id: &'a str,
    pub user_id: &'a str,
}

/// What a call did to its record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    Created,
    Updated,
}

impl Written {
    /// The name shown in answers and logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
        }
    }
}

fn text(record: &MappedRecord, field: &str) -> Option<String> {
    record.text(field).map(str::to_owned)
}

fn list(record: &MappedRecord, field: &str) -> Option<Vec<String>> {
    match record.values.get(field) {
        Some(FieldValue::List(items)) => Some(items.clone()),
        _ => None,
    }
}

fn list_value(items: Vec<String>) -> ListValue {
    ListValue {
        values: items
            .into_iter()
            .map(|s| Value {
                kind: Some(Kind::StringValue(s)),
            })
            .collect(),
    }
}

fn number(record: &MappedRecord, field: &str) -> Option<f64> {
    match record.values.get(field) {
        Some(FieldValue::Number(n)) => Some(*n),
        _ => None,
    }
}

fn integer(record: &MappedRecord, field: &str) -> Option<i32> {
    match record.values.get(field) {
        Some(FieldValue::Integer(n)) => Some(*n),
        _ => None,
    }
}

/// svc-pipeline's answer as the sender should read it: field violations renamed to the
/// payload paths their fields came from; an unreachable pipeline a retryable 503.
fn translate(status: Status, record: &MappedRecord, module: Module) -> Status {
    match status.code() {
        Code::InvalidArgument | Code::AlreadyExists | Code::FailedPrecondition => {
            let violations = status
                .get_error_details()
                .bad_request()
                .map(|b| b.field_violations.clone())
                .unwrap_or_default();
            if violations.is_empty() {
                return status;
            }
            let reason = if status.code() == Code::AlreadyExists {
                "CONFLICT"
            } else {
                "VALIDATION_ERROR"
            };
            let renamed: Vec<(String, String)> = violations
                .iter()
                .map(|v| {
                    // Searches name the phone `phone`; records name it `phone_number`.
                    let field = if v.field == "phone" {
                        "phone_number"
                    } else {
                        v.field.as_str()
                    };
                    let path = record.path_of(field);
                    let description = if path == field {
                        format!(
                            "{} {} (not mapped from the payload)",
                            module.name(),
                            v.description
                        )
                    } else {
                        format!("{} (the {} field '{field}')", v.description, module.name())
                    };
                    (path, description)
                })
                .collect();
            let code = if status.code() == Code::FailedPrecondition {
                Code::InvalidArgument
            } else {
                status.code()
            };
            let (path, description) = &renamed[0];
            let mut e = ApiError::new(code, reason, format!("{path}: {description}"));
            for (path, description) in &renamed {
                e = e.with_field(path, description.clone());
            }
            e.into()
        }
        Code::NotFound | Code::PermissionDenied | Code::Unauthenticated => {
            // A reference the record makes (a stage, a company) that is not in the workspace.
            ApiError::invalid_field(
                "body",
                format!(
                    "{} could not be written: {}",
                    module.name(),
                    status.message()
                ),
            )
            .into()
        }
        Code::Unavailable | Code::DeadlineExceeded => {
            tracing::warn!(error = %status.message(), "svc-pipeline unreachable for an incoming webhook");
            Status::unavailable("the CRM could not store the record just now; retry shortly")
        }
        _ => crm_platform::error::internal("incoming webhook record", status.message()),
    }
}

impl Pipeline {
    /// svc-pipeline at `url`, connected on first use.
    pub fn new(url: &str, signer: PrincipalVerifier) -> Result<Self, tonic::transport::Error> {
        let channel = crm_platform::server::peer_channel(url)?;
        Ok(Self { channel, signer })
    }

    fn request<T>(&self, actor: &Actor<'_>, message: T) -> Result<Request<T>, Status> {
        let principal = Principal::new(PrincipalKind::Service, actor.workspace_id, actor.user_id);
        let mut request = Request::new(message);
        self.signer.sign_into(&principal, request.metadata_mut())?;
        Ok(request)
    }

    /// The id of the record whose `key` field holds `value`, if there is one.
    pub async fn find(
        &self,
        actor: &Actor<'_>,
        module: Module,
        key: &str,
        value: &str,
        record: &MappedRecord,
    ) -> Result<Option<String>, Status> {
        let found = match (module, key) {
            (Module::Contact, "id") => ContactServiceClient::new(self.channel.clone())
                .get_contact(self.request(
                    actor,
                    pb::GetContactRequest {
                        id: value.to_owned(),
                    },
                )?)
                .await
                .map(|r| r.into_inner().data.map(|c| c.id)),
            (Module::Contact, _) => {
                let mut query = pb::SearchContactsRequest {
                    limit: Some(1),
                    ..Default::default()
                };
                if key == "email" {
                    query.email = value.to_owned();
                } else {
                    query.phone = value.to_owned();
                }
                ContactServiceClient::new(self.channel.clone())
                    .search_contacts(self.request(actor, query)?)
                    .await
                    .map(|r| r.into_inner().data.into_iter().next().map(|c| c.id))
            }
            (Module::Opportunity, _) => OpportunityServiceClient::new(self.channel.clone())
                .get_opportunity(self.request(
                    actor,
                    pb::GetOpportunityRequest {
                        id: value.to_owned(),
                    },
                )?)
                .await
                .map(|r| r.into_inner().data.map(|o| o.id)),
        };
        match found {
            Ok(id) => Ok(id),
            // An id that is not a UUID names no record either.
            Err(s) if s.code() == Code::NotFound => Ok(None),
            Err(s) if key == "id" && s.code() == Code::InvalidArgument => Ok(None),
            Err(s) => Err(translate(s, record, module)),
        }
    }

    /// Creates the record; returns its id.
    pub async fn create(
        &self,
        actor: &Actor<'_>,
        module: Module,
        record: &MappedRecord,
        webhook_name: &str,
    ) -> Result<String, Status> {
        let r = record;
        let created = match module {
            Module::Contact => {
                let message = pb::CreateContactRequest {
                    workspace_id: actor.workspace_id.to_owned(),
                    firstname: text(r, "firstname").unwrap_or_default(),
                    lastname: text(r, "lastname").unwrap_or_default(),
                    phone_number: text(r, "phone_number").unwrap_or_default(),
                    email: text(r, "email"),
                    lead_status: text(r, "lead_status"),
                    lead_source: text(r, "lead_source"),
                    product: text(r, "product"),
                    address: text(r, "address"),
                    city: text(r, "city"),
                    state: text(r, "state"),
                    zip: text(r, "zip"),
                    notes: text(r, "notes"),
                    tags: list(r, "tags").unwrap_or_default(),
                    priority: text(r, "priority"),
                    opt_in_through: text(r, "opt_in_through"),
                    timezone: text(r, "timezone"),
                    follow_up_date: text(r, "follow_up_date"),
                    webhook_name: Some(webhook_name.to_owned()),
                    company_id: text(r, "company_id"),
                    assigned_to: text(r, "assigned_to"),
                };
                ContactServiceClient::new(self.channel.clone())
                    .create_contact(self.request(actor, message)?)
                    .await
                    .map(|c| c.into_inner().data.map(|c| c.id))
            }
            Module::Opportunity => {
                let message = pb::CreateOpportunityRequest {
                    workspace_id: actor.workspace_id.to_owned(),
                    title: text(r, "title").unwrap_or_default(),
                    description: text(r, "description"),
                    contact_id: text(r, "contact_id"),
                    company_id: text(r, "company_id"),
                    stage_id: text(r, "stage_id").unwrap_or_default(),
                    value: None,
                    amount: number(r, "amount"),
                    currency: text(r, "currency"),
                    probability: integer(r, "probability"),
                    priority: text(r, "priority"),
                    expected_close_date: text(r, "expected_close_date"),
                    tags: list(r, "tags").unwrap_or_default(),
                    notes: text(r, "notes"),
                    source: text(r, "source"),
                    assigned_to: text(r, "assigned_to"),
                };
                OpportunityServiceClient::new(self.channel.clone())
                    .create_opportunity(self.request(actor, message)?)
                    .await
                    .map(|o| o.into_inner().data.map(|o| o.id))
            }
        };
        created
            .map_err(|s| translate(s, record, module))?
            .ok_or_else(|| {
                crm_platform::error::internal("incoming webhook record", "no record in the answer")
            })
    }

    /// Updates record `id` with the fields read from the payload (only those).
    pub async fn update(
        &self,
        actor: &Actor<'_>,
        module: Module,
        id: &str,
        record: &MappedRecord,
    ) -> Result<(), Status> {
        let r = record;
        let done = match module {
            Module::Contact => {
                let message = pb::UpdateContactRequest {
                    id: id.to_owned(),
                    firstname: text(r, "firstname"),
                    lastname: text(r, "lastname"),
                    phone_number: text(r, "phone_number"),
                    email: text(r, "email"),
                    lead_status: text(r, "lead_status"),
                    lead_source: text(r, "lead_source"),
                    product: text(r, "product"),
                    address: text(r, "address"),
                    city: text(r, "city"),
                    state: text(r, "state"),
                    zip: text(r, "zip"),
                    notes: text(r, "notes"),
                    tags: list(r, "tags").map(list_value),
                    priority: text(r, "priority"),
                    opt_in_through: text(r, "opt_in_through"),
                    timezone: text(r, "timezone"),
                    follow_up_date: text(r, "follow_up_date"),
                    webhook_name: None,
                    company_id: text(r, "company_id"),
                    assigned_to: text(r, "assigned_to"),
                };
                ContactServiceClient::new(self.channel.clone())
                    .update_contact(self.request(actor, message)?)
                    .await
                    .map(drop)
            }
            Module::Opportunity => {
                let message = pb::UpdateOpportunityRequest {
                    id: id.to_owned(),
                    title: text(r, "title"),
                    description: text(r, "description"),
                    amount: number(r, "amount"),
                    value: None,
                    currency: text(r, "currency"),
                    probability: integer(r, "probability"),
                    priority: text(r, "priority"),
                    expected_close_date: text(r, "expected_close_date"),
                    tags: list(r, "tags").map(list_value),
                    notes: text(r, "notes"),
                    source: text(r, "source"),
                    contact_id: text(r, "contact_id"),
                    company_id: text(r, "company_id"),
                    assigned_to: text(r, "assigned_to"),
                };
                let client = OpportunityServiceClient::new(self.channel.clone());
                let updated = client
                    .clone()
                    .update_opportunity(self.request(actor, message)?)
                    .await
                    .map(drop);
                match (updated, text(r, "stage_id")) {
                    // An update cannot change the stage; a move does (history included).
                    (Ok(()), Some(stage_id)) => client
                        .clone()
                        .move_opportunity(self.request(
                            actor,
                            pb::MoveOpportunityRequest {
                                id: id.to_owned(),
                                stage_id,
                            },
                        )?)
                        .await
                        .map(drop),
                    (other, _) => other,
                }
            }
        };
        done.map_err(|s| translate(s, record, module))
    }
}
