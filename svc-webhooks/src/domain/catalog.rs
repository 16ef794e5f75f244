//! The event catalog: every event type the services emit (svc-pipeline's outbox), the
//! field-change triggers' `contact.field_changed`, the engine's `webhook.disabled` and
//! `webhook.test`, each with a
//! description, a JSON schema of the envelope's `data` and an example. Subscriptions name
//! types from here, or patterns over them (`opportunity.*`, `*`).

use serde_json::{Map, Value, json};

/// The type of the event a test send carries.
pub const TEST_EVENT: &str = "webhook.test";

/// The type of the event the delivery engine emits when it disables a subscription.
pub const DISABLED_EVENT: &str = "webhook.disabled";

/// One event type a subscription can receive.
pub struct EventType {
    pub name: &'static str,
    pub description: &'static str,
    /// JSON schema of `data`.
    pub schema: Value,
    /// An example `data`.
    pub example: Value,
}

/// A property's schema from a short type name: `string`, `uuid`, `number`, `integer`,
/// `boolean`, `date-time`, `strings`; a `?` suffix makes it nullable.
fn property(kind: &str) -> Value {
    let (kind, nullable) = match kind.strip_suffix('?') {
        Some(k) => (k, true),
        None => (kind, false),
    };
    let mut schema = match kind {
        "uuid" => json!({"type": "string", "format": "uuid"}),
        "date-time" => json!({"type": "string", "format": "date-time"}),
        "strings" => json!({"type": "array", "items": {"type": "string"}}),
        other => json!({"type": other}),
    };
    if nullable {
        let t = schema["type"].clone();
        schema["type"] = json!([t, "null"]);
    }
    schema
}

/// An object schema; every property is required (present, perhaps null).
fn object(properties: &[(&str, &str)]) -> Value {
    let props: Map<String, Value> = properties
        .iter()
        .map(|(name, kind)| ((*name).to_owned(), property(kind)))
        .collect();
    let required: Vec<&str> = properties.iter().map(|(n, _)| *n).collect();
    json!({"type": "object", "properties": props, "required": required})
}

const OPPORTUNITY: [(&str, &str); 13] = [
    ("id", "uuid"),
    ("title", "string"),
    ("pipeline_id", "uuid"),
    ("stage_id", "uuid"),
    ("amount", "number"),
    ("currency", "string"),
    ("probability", "integer"),
    ("contact_id", "uuid?"),
    ("company_id", "uuid?"),
    ("is_closed", "boolean"),
    ("is_won", "boolean?"),
    ("closed_at", "date-time?"),
    ("changed_by", "string"),
];

fn opportunity_example() -> Value {
    json!({
        "id": "8d0f7a4e-3b7c-4a55-9d61-2f7f3c1f9a10", "title": "Enterprise Software Deal",
        "pipeline_id": "5b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d",
        "stage_id": "0a1b2c3d-4e5f-4a6b-9c8d-7e6f5a4b3c2d", "amount": 28000.0,
        "currency": "USD", "probability": 60, "contact_id": null, "company_id": null,
        "is_closed": false, "is_won": null, "closed_at": null,
        "changed_by": "7f6e5d4c-3b2a-4190-8f7e-6d5c4b3a2910",
    })
}

fn opportunity(name: &'static str, description: &'static str) -> EventType {
    EventType {
        name,
        description,
        schema: object(&OPPORTUNITY),
        example: opportunity_example(),
    }
}

fn stage_change(name: &'static str, description: &'static str) -> EventType {
    let mut fields = OPPORTUNITY.to_vec();
    fields.extend([
        ("old_stage_id", "uuid"),
        ("new_stage_id", "uuid"),
        ("stage_name", "string"),
    ]);
    let mut example = opportunity_example();
    example["old_stage_id"] = json!("0a1b2c3d-4e5f-4a6b-9c8d-7e6f5a4b3c2d");
    example["new_stage_id"] = json!("1b2c3d4e-5f60-4b7c-8d9e-0f1a2b3c4d5e");
    example["stage_id"] = example["new_stage_id"].clone();
    example["stage_name"] = json!("Negotiation");
    EventType {
        name,
        description,
        schema: object(&fields),
        example,
    }
}

fn contact(name: &'static str, description: &'static str) -> EventType {
    EventType {
        name,
        description,
        schema: object(&[
            ("id", "uuid"),
            ("name", "string"),
            ("phone_number", "string"),
        ]),
        example: json!({"id": "3c4d5e6f-7081-4a92-b3c4-d5e6f7081a92", "name": "Ada Lovelace",
                        "phone_number": "+15551234567"}),
    }
}

/// svc-messaging's message outcomes; times are RFC 3339 with milliseconds.
fn message(name: &'static str, description: &'static str) -> EventType {
    EventType {
        name,
        description,
        schema: object(&[
            ("jobId", "uuid"),
            ("channel", "string"),
            ("status", "string"),
            ("contactId", "uuid"),
            ("attempts", "integer"),
            ("providerMessageId", "string?"),
            ("reason", "string?"),
            ("dueAt", "date-time"),
            ("sentAt", "date-time?"),
        ]),
        example: json!({"jobId": "0190f3a2-5b6c-7d8e-9f01-23456789abcd", "channel": "sms",
                        "status": "sent", "contactId": "3c4d5e6f-7081-4a92-b3c4-d5e6f7081a92",
                        "attempts": 1, "providerMessageId": "SM0123456789abcdef0123456789abcdef",
                        "reason": null, "dueAt": "2025-05-29T10:30:00.000Z",
                        "sentAt": "2025-05-29T10:30:00.412Z"}),
    }
}

/// svc-messaging's sequence executions.
fn sequence(name: &'static str, description: &'static str) -> EventType {
    EventType {
        name,
        description,
        schema: object(&[
            ("executionId", "uuid"),
            ("sequenceId", "uuid"),
            ("contactId", "uuid"),
            ("status", "string"),
            ("startedAt", "date-time"),
        ]),
        example: json!({"executionId": "0190f3a2-6c7d-7e8f-9012-3456789abcde",
                        "sequenceId": "5e6f7081-92a3-4b4c-8d5e-6f708192a3b4",
                        "contactId": "3c4d5e6f-7081-4a92-b3c4-d5e6f7081a92",
                        "status": "active", "startedAt": "2025-05-29T10:30:00.000Z"}),
    }
}

fn full_contact(name: &'static str, description: &'static str) -> EventType {
    EventType {
        name,
        description,
        schema: object(&[
            ("id", "uuid"),
            ("name", "string"),
            ("firstname", "string"),
            ("lastname", "string"),
            ("phone_number", "string"),
            ("email", "string?"),
            ("lead_status", "string?"),
            ("lead_source", "string?"),
            ("tags", "strings"),
            ("webhook_name", "string?"),
            ("company_id", "uuid?"),
        ]),
        example: json!({"id": "3c4d5e6f-7081-4a92-b3c4-d5e6f7081a92", "name": "Ada Lovelace",
                        "firstname": "Ada", "lastname": "Lovelace",
                        "phone_number": "+15551234567", "email": "ada@example.com",
                        "lead_status": "new", "lead_source": "website", "tags": ["vip"],
                        "webhook_name": null, "company_id": null}),
    }
}

fn pipeline_event(
    name: &'static str,
    description: &'static str,
    fields: &[(&str, &str)],
) -> EventType {
    let mut example =
        json!({"id": "5b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d", "name": "Sales Pipeline"});
    for (field, _) in fields.iter().skip(2) {
        example[*field] = match *field {
            "is_default" | "is_active" => json!(true),
            "stages" => {
                json!([{"id": "0a1b2c3d-4e5f-4a6b-9c8d-7e6f5a4b3c2d", "name": "New", "position": 1}])
            }
            _ => json!("7f6e5d4c-3b2a-4190-8f7e-6d5c4b3a2910"),
        };
    }
    let mut schema = object(fields);
    if fields.iter().any(|(f, _)| *f == "stages") {
        schema["properties"]["stages"] = json!({"type": "array", "items":
            object(&[("id", "uuid"), ("name", "string"), ("position", "integer")])});
    }
    EventType {
        name,
        description,
        schema,
        example,
    }
}

fn stage_event(name: &'static str, description: &'static str, deleted: bool) -> EventType {
    let mut fields = vec![("id", "uuid"), ("pipeline_id", "uuid"), ("name", "string")];
    let mut example = json!({"id": "0a1b2c3d-4e5f-4a6b-9c8d-7e6f5a4b3c2d",
                             "pipeline_id": "5b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d",
                             "name": "Qualified"});
    if deleted {
        fields.extend([
            ("opportunities_moved", "integer?"),
            ("target_stage_id", "uuid?"),
        ]);
        example["opportunities_moved"] = json!(null);
        example["target_stage_id"] = json!(null);
    } else {
        fields.push(("position", "integer"));
        example["position"] = json!(2);
    }
    EventType {
        name,
        description,
        schema: object(&fields),
        example,
    }
}

fn tag(name: &'static str, description: &'static str) -> EventType {
    EventType {
        name,
        description,
        schema: object(&[
            ("id", "uuid"),
            ("name", "string"),
            ("color", "string"),
            ("description", "string?"),
        ]),
        example: json!({"id": "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d", "name": "VIP",
                        "color": "purple", "description": null}),
    }
}

/// Every event type, in the order the catalog lists them.
/// A calendar booking (seed 004 "Calendar Booking API").
fn booking(name: &'static str, description: &'static str) -> EventType {
    EventType {
        name,
        description,
        schema: object(&[
            ("id", "uuid"),
            ("event_id", "uuid?"),
            ("contact_id", "uuid"),
            ("title", "string"),
            ("start_time", "date-time"),
            ("end_time", "date-time"),
            ("status", "string"),
        ]),
        example: json!({"id": "0190f3a2-5b6c-4d8e-9f01-23456789abcd",
                        "event_id": "3c4d5e6f-7081-4a92-b3c4-d5e6f7081a92",
                        "contact_id": "8d0f7a4e-3b7c-4a55-9d61-2f7f3c1f9a10",
                        "title": "Kitchen Renovation - John Smith",
                        "start_time": "2025-07-15T09:00:00Z",
                        "end_time": "2025-07-15T10:00:00Z",
                        "status": "booked"}),
    }
}

pub fn event_types() -> Vec<EventType> {
    vec![
        opportunity(
            "opportunity.created",
            "An opportunity was created (data also carries its `tags`).",
        ),
        opportunity("opportunity.updated", "An opportunity's fields changed."),
        stage_change(
            "opportunity.stage_changed",
            "An opportunity moved to another stage.",
        ),
        stage_change("opportunity.won", "An opportunity moved to a won stage."),
        stage_change("opportunity.lost", "An opportunity moved to a lost stage."),
        stage_change(
            "opportunity.reopened",
            "A closed opportunity moved back to an open stage.",
        ),
        opportunity("opportunity.deleted", "An opportunity was archived."),
        full_contact("contact.created", "A contact was created."),
        full_contact("contact.updated", "A contact's fields changed."),
        contact("contact.deleted", "A contact was deleted."),
        EventType {
            name: "company.created",
            description: "A company was created.",
            schema: object(&[
                ("id", "uuid"),
                ("name", "string"),
                ("industry", "string?"),
                ("website", "string?"),
            ]),
            example: json!({"id": "2b3c4d5e-6f70-4a81-92a3-b4c5d6e7f809", "name": "Acme Corp",
                            "industry": "Software", "website": "https://acme.example"}),
        },
        pipeline_event(
            "pipeline.created",
            "A pipeline was created with its stages.",
            &[
                ("id", "uuid"),
                ("name", "string"),
                ("is_default", "boolean"),
                ("stages", "strings"),
                ("created_by", "string"),
            ],
        ),
        pipeline_event(
            "pipeline.updated",
            "A pipeline was renamed, (de)activated or made the default.",
            &[
                ("id", "uuid"),
                ("name", "string"),
                ("is_active", "boolean"),
                ("is_default", "boolean"),
            ],
        ),
        pipeline_event(
            "pipeline.deleted",
            "A pipeline was deactivated.",
            &[("id", "uuid"), ("name", "string")],
        ),
        stage_event("stage.created", "A stage was added to a pipeline.", false),
        stage_event("stage.updated", "A stage was renamed or moved.", false),
        stage_event(
            "stage.deleted",
            "A stage was deleted, its opportunities perhaps moved to another.",
            true,
        ),
        tag("tag.created", "A tag was added to the workspace's catalog."),
        tag(
            "tag.updated",
            "A tag was renamed or recolored (records carrying it follow).",
        ),
        tag("tag.deleted", "A tag was removed from the catalog."),
        EventType {
            name: "contact.field_changed",
            description: "A contact's field changed, as reported to `POST /api/triggers/webhooks/contact-field-changed` (or the bulk form); the envelope's `id` is the answer's `taskId`.",
            schema: json!({
                "type": "object",
                "properties": {
                    "contactId": {"type": "string", "format": "uuid"},
                    "fieldName": {"type": "string"},
                    "oldValue": {"description": "Any JSON value; null when not reported."},
                    "newValue": {"description": "Any JSON value; null when not reported."},
                    "changedAt": {"type": "string", "format": "date-time"},
                },
                "required": ["contactId", "fieldName", "oldValue", "newValue", "changedAt"],
            }),
            example: json!({"contactId": "8d0f7a4e-3b7c-4a55-9d61-2f7f3c1f9a10",
                            "fieldName": "lead_status", "oldValue": "new",
                            "newValue": "qualified", "changedAt": "2025-05-29T10:30:00.000Z"}),
        },
        booking(
            "booking.created",
            "A slot was booked through `POST /api/calendar/book` (the contact was matched or created in the same change).",
        ),
        booking(
            "booking.cancelled",
            "A booking was cancelled: by the booker with its token, by an admin, or because its slot was deleted.",
        ),
        EventType {
            name: "action.executed",
            description: "An action ran on a contact through `POST /api/actions/execute`, completed or failed (`error` says why).",
            schema: object(&[
                ("execution_id", "uuid"),
                ("action_type", "string"),
                ("contact_id", "uuid"),
                ("status", "string"),
                ("result", "object"),
                ("error", "string?"),
                ("execution_context", "object"),
                ("executed_at", "date-time"),
                ("duration_ms", "integer"),
            ]),
            example: json!({"execution_id": "0190f3a2-5b6c-7d8e-9f01-23456789abcd",
                            "action_type": "add_tag",
                            "contact_id": "3c4d5e6f-7081-4a92-b3c4-d5e6f7081a92",
                            "status": "completed",
                            "result": {"tag_added": true,
                                       "tag_id": "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d",
                                       "contact_id": "3c4d5e6f-7081-4a92-b3c4-d5e6f7081a92"},
                            "error": null,
                            "execution_context": {"flow_id": "flow-uuid-1"},
                            "executed_at": "2025-01-15T14:30:00.000Z", "duration_ms": 150}),
        },
        EventType {
            name: "action.webhook_triggered",
            description: "A `trigger_webhook` action ran on a contact: the contact and the action's `payload`.",
            schema: object(&[
                ("contact_id", "uuid"),
                ("contact", "object"),
                ("payload", "object"),
            ]),
            example: json!({"contact_id": "3c4d5e6f-7081-4a92-b3c4-d5e6f7081a92",
                            "contact": {"id": "3c4d5e6f-7081-4a92-b3c4-d5e6f7081a92",
                                        "firstname": "John", "lastname": "Smith",
                                        "phone_number": "+14345054099", "email": null,
                                        "lead_status": "new", "assigned_to": null},
                            "payload": {"flow": "welcome"}}),
        },
        message("message.sent", "An SMS or email left through its provider."),
        message(
            "message.failed",
            "An SMS or email failed for good (`reason` holds the provider's).",
        ),
        message(
            "message.skipped",
            "An SMS or email was not sent: the contact opted out of the channel (`reason`).",
        ),
        sequence("sequence.started", "A sequence was applied to a contact."),
        sequence(
            "sequence.completed",
            "The last message of a sequence execution went out.",
        ),
        sequence("sequence.cancelled", "A sequence execution was cancelled."),
        EventType {
            name: DISABLED_EVENT,
            description: "The delivery engine disabled a subscription: its receiver answered 410 Gone, or failed every attempt for days. Re-enable it with `POST /api/v1/webhooks/{id}/enable` (or status `active`) to replay what failed meanwhile.",
            schema: object(&[
                ("webhook_id", "uuid"),
                ("url", "string"),
                ("reason", "string"),
                ("failing_since", "date-time?"),
            ]),
            example: json!({"webhook_id": "4d5e6f70-8192-4a3b-8c4d-5e6f70819203",
                            "url": "https://example.com/hooks/crm",
                            "reason": "every attempt failed for 5 days (since 2025-05-24T10:30:00Z)",
                            "failing_since": "2025-05-24T10:30:00Z"}),
        },
        EventType {
            name: TEST_EVENT,
            description: "Sent by `POST /api/v1/webhooks/{id}/test` to check a receiver; never by a change.",
            schema: object(&[("message", "string"), ("webhook_id", "uuid")]),
            example: json!({"message": "This is a test event from the CRM.",
                            "webhook_id": "4d5e6f70-8192-4a3b-8c4d-5e6f70819203"}),
        },
    ]
}

/// True when `pattern` (`*`, `resource.*` or an exact type) selects `event_type`.
pub fn selects(pattern: &str, event_type: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some("") => true,
        Some(prefix) if prefix.ends_with('.') => event_type.starts_with(prefix),
        _ => pattern == event_type,
    }
}

/// Why `pattern` selects nothing in the catalog, or `None` when it is fine.
pub fn unknown_pattern(pattern: &str) -> Option<String> {
    let catalog = event_types();
    if catalog.iter().any(|e| selects(pattern, e.name)) {
        return None;
    }
    Some(format!(
        "'{pattern}' is not an event type; use one from GET /api/v1/webhook-events, 'resource.*' or '*'"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_select_by_exact_name_resource_wildcard_or_everything() {
        assert!(selects("*", "opportunity.created"));
        assert!(selects("opportunity.*", "opportunity.won"));
        assert!(!selects("opportunity.*", "contact.created"));
        assert!(!selects("opp*", "opportunity.created"));
        assert!(selects("tag.created", "tag.created"));
        assert!(!selects("tag.created", "tag.updated"));
    }

    #[test]
    fn unknown_types_and_patterns_are_named() {
        assert!(unknown_pattern("opportunity.*").is_none());
        assert!(unknown_pattern("*").is_none());
        assert!(unknown_pattern("webhook.test").is_none());
        assert!(unknown_pattern("lead.created").is_some());
        assert!(unknown_pattern("lead.*").is_some());
        assert!(unknown_pattern("opportunity").is_some());
    }

    #[test]
    fn every_example_has_every_required_property() {
        for e in event_types() {
            for field in e.schema["required"].as_array().unwrap() {
                let field = field.as_str().unwrap();
                assert!(e.example.get(field).is_some(), "{} lacks {field}", e.name);
            }
        }
    }
}
