//! `update_field` {field, value}: changes one contact field through the contact update path,
//! so the value is checked exactly as `PUT /api/contacts/{id}` checks it. Tags and the
//! assignee have their own actions.

use super::{
    ActionContext, ActionHandler,
    config::{Configuration, blame, field},
};
use crate::domain::contacts::{self, ContactChanges};
use crate::store::entities::contacts::Model as Contact;
use crm_platform::error::ApiError;
use serde_json::{Value, json};

/// The `update_field` action.
pub struct UpdateField;

/// The contact fields the action may change (those the update endpoint accepts).
pub const FIELDS: [&str; 18] = [
    "firstname",
    "lastname",
    "phone_number",
    "email",
    "lead_status",
    "lead_source",
    "product",
    "address",
    "city",
    "state",
    "zip",
    "notes",
    "priority",
    "opt_in_through",
    "timezone",
    "follow_up_date",
    "webhook_name",
    "company_id",
];

/// Longest value accepted here; the field's own limit is checked by the update path.
const VALUE_MAX: usize = 5000;

fn field_name(config: &Configuration) -> Result<&'static str, ApiError> {
    let wanted = config.required_str("field", 50)?;
    FIELDS
        .iter()
        .copied()
        .find(|f| *f == wanted)
        .ok_or_else(|| {
            ApiError::invalid_field(
                &field("field"),
                format!("must be one of: {}", FIELDS.join(", ")),
            )
        })
}

/// The value as the update path takes it: a string, a number as its text, or null / ""
/// to clear an optional field.
fn value(config: &Configuration) -> Result<String, ApiError> {
    match config.get("value") {
        None => Err(ApiError::invalid_field(&field("value"), "is required")),
        Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) if s.chars().count() > VALUE_MAX => Err(ApiError::invalid_field(
            &field("value"),
            format!("at most {VALUE_MAX} characters"),
        )),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(_) => Err(ApiError::invalid_field(
            &field("value"),
            "must be a string, a number or null",
        )),
    }
}

fn changes(name: &str, value: String) -> ContactChanges {
    let mut c = ContactChanges::default();
    let slot = match name {
        "firstname" => &mut c.firstname,
        "lastname" => &mut c.lastname,
        "phone_number" => &mut c.phone_number,
        "email" => &mut c.email,
        "lead_status" => &mut c.lead_status,
        "lead_source" => &mut c.lead_source,
        "product" => &mut c.product,
        "address" => &mut c.address,
        "city" => &mut c.city,
        "state" => &mut c.state,
        "zip" => &mut c.zip,
        "notes" => &mut c.notes,
        "priority" => &mut c.priority,
        "opt_in_through" => &mut c.opt_in_through,
        "timezone" => &mut c.timezone,
        "follow_up_date" => &mut c.follow_up_date,
        "webhook_name" => &mut c.webhook_name,
        _ => &mut c.company_id,
    };
    *slot = Some(value);
    c
}

/// A contact field's stored value as JSON (null when empty).
fn read(contact: &Contact, name: &str) -> Value {
    let text = |v: &Option<String>| v.as_ref().map_or(Value::Null, |s| json!(s));
    match name {
        "firstname" => json!(contact.firstname),
        "lastname" => json!(contact.lastname),
        "phone_number" => json!(contact.phone_number),
        "email" => text(&contact.email),
        "lead_status" => text(&contact.lead_status),
        "lead_source" => text(&contact.lead_source),
        "product" => text(&contact.product),
        "address" => text(&contact.address),
        "city" => text(&contact.city),
        "state" => text(&contact.state),
        "zip" => text(&contact.zip),
        "notes" => text(&contact.notes),
        "priority" => text(&contact.priority),
        "opt_in_through" => text(&contact.opt_in_through),
        "timezone" => text(&contact.timezone),
        "follow_up_date" => contact
            .follow_up_date
            .map_or(Value::Null, |d| json!(d.to_string())),
        "webhook_name" => text(&contact.webhook_name),
        _ => text(&contact.company_id),
    }
}

#[tonic::async_trait]
impl ActionHandler for UpdateField {
    fn action_type(&self) -> &'static str {
        "update_field"
    }

    fn check(&self, config: &Configuration) -> Result<(), ApiError> {
        field_name(config)?;
        value(config).map(|_| ())
    }

    async fn run(
        &self,
        ctx: &ActionContext<'_>,
        config: &Configuration,
    ) -> Result<Value, ApiError> {
        let name = field_name(config)?;
        let updated = contacts::update(
            ctx.state,
            ctx.workspace_id,
            &ctx.contact.id,
            changes(name, value(config)?),
        )
        .await
        .map_err(blame("value"))?;
        Ok(json!({
            "field": name,
            "old_value": read(ctx.contact, name),
            "new_value": read(&updated.contact, name),
            "contact_id": ctx.contact.id,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_has_its_slot() {
        for name in FIELDS {
            let c = changes(name, "x".into());
            let set = [
                &c.firstname,
                &c.lastname,
                &c.phone_number,
                &c.email,
                &c.lead_status,
                &c.lead_source,
                &c.product,
                &c.address,
                &c.city,
                &c.state,
                &c.zip,
                &c.notes,
                &c.priority,
                &c.opt_in_through,
                &c.timezone,
                &c.follow_up_date,
                &c.webhook_name,
                &c.company_id,
            ]
            .iter()
            .filter(|v| v.is_some())
            .count();
            assert_eq!(set, 1, "{name}");
        }
    }
}
