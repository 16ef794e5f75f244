//! The record fields a hook may write, per module, and how each is typed. The lists follow
//! svc-pipeline's create and update requests; `webhook_name` is not among them because the
//! hook sets it itself.

use crm_platform::error::ApiError;

/// Which kind of record a hook writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Module {
    Contact,
    Opportunity,
}

impl Module {
    /// The name stored and shown.
    pub fn name(self) -> &'static str {
        match self {
            Self::Contact => "contact",
            Self::Opportunity => "opportunity",
        }
    }

    /// The module named `raw` (also the plural), or a 400 naming `module`.
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "contact" | "contacts" => Ok(Self::Contact),
            "opportunity" | "opportunities" => Ok(Self::Opportunity),
            _ => Err(ApiError::invalid_field(
                "module",
                "must be contact or opportunity",
            )),
        }
    }

    /// Seed 002's numeric `module_id`: 1 = contact, 2 = opportunity.
    pub fn from_id(id: i32) -> Result<Self, ApiError> {
        match id {
            1 => Ok(Self::Contact),
            2 => Ok(Self::Opportunity),
            _ => Err(ApiError::invalid_field(
                "module_id",
                "must be 1 (contact) or 2 (opportunity)",
            )),
        }
    }

    /// The fields a hook may map to, with their types.
    pub fn fields(self) -> &'static [(&'static str, Kind)] {
        match self {
            Self::Contact => CONTACT_FIELDS,
            Self::Opportunity => OPPORTUNITY_FIELDS,
        }
    }

    /// The type of `field`, when a hook may map to it.
    pub fn kind_of(self, field: &str) -> Option<Kind> {
        self.fields()
            .iter()
            .find(|(name, _)| *name == field)
            .map(|(_, kind)| *kind)
    }

    /// The fields that can find an existing record, the default first.
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            Self::Contact => &["email", "phone_number", "id"],
            Self::Opportunity => &["id"],
        }
    }

    /// The record's name in messages.
    pub fn label(self) -> &'static str {
        match self {
            Self::Contact => "Contact",
            Self::Opportunity => "Opportunity",
        }
    }
}

/// How a payload value becomes a field's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Text (numbers and booleans are written as text).
    Text,
    /// "First Last": split into `firstname` and `lastname`.
    FullName,
    /// A list of strings (or one comma-separated string).
    List,
    /// A number (or numeric text).
    Number,
    /// A whole number (or its text).
    Integer,
}

const CONTACT_FIELDS: &[(&str, Kind)] = &[
    ("id", Kind::Text),
    ("firstname", Kind::Text),
    ("lastname", Kind::Text),
    ("full_name", Kind::FullName),
    ("phone_number", Kind::Text),
    ("email", Kind::Text),
    ("lead_status", Kind::Text),
    ("lead_source", Kind::Text),
    ("product", Kind::Text),
    ("address", Kind::Text),
    ("city", Kind::Text),
    ("state", Kind::Text),
    ("zip", Kind::Text),
    ("notes", Kind::Text),
    ("tags", Kind::List),
    ("priority", Kind::Text),
    ("opt_in_through", Kind::Text),
    ("timezone", Kind::Text),
    ("follow_up_date", Kind::Text),
    ("company_id", Kind::Text),
];

const OPPORTUNITY_FIELDS: &[(&str, Kind)] = &[
    ("id", Kind::Text),
    ("title", Kind::Text),
    ("description", Kind::Text),
    ("contact_id", Kind::Text),
    ("company_id", Kind::Text),
    ("stage_id", Kind::Text),
    ("amount", Kind::Number),
    ("currency", Kind::Text),
    ("probability", Kind::Integer),
    ("priority", Kind::Text),
    ("expected_close_date", Kind::Text),
    ("tags", Kind::List),
    ("notes", Kind::Text),
    ("source", Kind::Text),
    ("assigned_to", Kind::Text),
];

/// What a hook does with each call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Upsert,
}

impl Action {
    /// The name stored and shown.
    pub fn name(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Upsert => "upsert",
        }
    }

    /// The action named `raw`, or a 400 naming `action`.
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "create" => Ok(Self::Create),
            "update" => Ok(Self::Update),
            "upsert" => Ok(Self::Upsert),
            _ => Err(ApiError::invalid_field(
                "action",
                "must be create, update or upsert",
            )),
        }
    }
}
