//! `remove_tag` {tagName}: takes a tag off the contact (ignoring case); the catalog keeps it.

use super::{ActionContext, ActionHandler, config::Configuration, tagging};
use crm_platform::error::ApiError;
use serde_json::{Value, json};

/// The `remove_tag` action.
pub struct RemoveTag;

const NAME_MAX: usize = 50;

#[tonic::async_trait]
impl ActionHandler for RemoveTag {
    fn action_type(&self) -> &'static str {
        "remove_tag"
    }

    fn check(&self, config: &Configuration) -> Result<(), ApiError> {
        config.required_str("tagName", NAME_MAX).map(|_| ())
    }

    async fn run(
        &self,
        ctx: &ActionContext<'_>,
        config: &Configuration,
    ) -> Result<Value, ApiError> {
        let name = config.required_str("tagName", NAME_MAX)?;
        let tag_removed = tagging::change(ctx, "tagName", |tags| {
            let before = tags.len();
            tags.retain(|t| !t.eq_ignore_ascii_case(name));
            tags.len() != before
        })
        .await?;
        Ok(json!({
            "tag_removed": tag_removed,
            "tag_name": name,
            "contact_id": ctx.contact.id,
        }))
    }
}
