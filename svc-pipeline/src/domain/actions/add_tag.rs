//! `add_tag` {tagName, color?, description?}: puts a tag on the contact, first adding it to
//! the workspace's catalog when it is new there (as the seed's example).

use super::{
    ActionContext, ActionHandler,
    config::{Configuration, blame, field, ours},
    tagging,
};
use crate::domain::tags::{self, COLORS, NewTag};
use crate::store::{db_error, entities::tags::Model as Tag, tags as tag_store};
use crm_platform::error::ApiError;
use serde_json::{Value, json};
use tonic::Code;

/// The `add_tag` action.
pub struct AddTag;

const NAME_MAX: usize = 50;
const DESCRIPTION_MAX: usize = 500;

#[tonic::async_trait]
impl ActionHandler for AddTag {
    fn action_type(&self) -> &'static str {
        "add_tag"
    }

    fn check(&self, config: &Configuration) -> Result<(), ApiError> {
        config.required_str("tagName", NAME_MAX)?;
        if let Some(color) = config.optional_str("color", 20)?
            && !COLORS.contains(&color.to_ascii_lowercase().as_str())
        {
            return Err(ApiError::invalid_field(
                &field("color"),
                format!("must be one of: {}", COLORS.join(", ")),
            ));
        }
        config.optional_str("description", DESCRIPTION_MAX)?;
        Ok(())
    }

    async fn run(
        &self,
        ctx: &ActionContext<'_>,
        config: &Configuration,
    ) -> Result<Value, ApiError> {
        let name = config.required_str("tagName", NAME_MAX)?;
        let tag = catalog_tag(ctx, config, name).await?;
        let tag_added = tagging::change(ctx, "tagName", |tags| {
            let carried = tags.iter().any(|t| t.eq_ignore_ascii_case(&tag.name));
            if !carried {
                tags.push(tag.name.clone());
            }
            !carried
        })
        .await?;
        Ok(json!({
            "tag_added": tag_added,
            "tag_id": tag.id,
            "contact_id": ctx.contact.id,
        }))
    }
}

/// The catalog's tag named `name` (ignoring case), created with the configuration's color
/// and description when missing.
async fn catalog_tag(
    ctx: &ActionContext<'_>,
    config: &Configuration,
    name: &str,
) -> Result<Tag, ApiError> {
    let key = name.to_lowercase();
    let find = || async {
        tag_store::find_by_key(&ctx.state.db, ctx.workspace_id, &key)
            .await
            .map_err(|e| ours(db_error("find tag")(e)))
    };
    if let Some(tag) = find().await? {
        return Ok(tag);
    }
    let new = NewTag {
        name: name.to_owned(),
        color: config.optional_str("color", 20)?.map(str::to_owned),
        description: config
            .optional_str("description", DESCRIPTION_MAX)?
            .map(str::to_owned),
    };
    match tags::create(ctx.state, ctx.workspace_id, new).await {
        Ok(created) => Ok(created.tag),
        // A concurrent action created it first: use that one.
        Err(status) if status.code() == Code::AlreadyExists => {
            find().await?.ok_or_else(|| blame("tagName")(status))
        }
        Err(status) => Err(blame("tagName")(status)),
    }
}
