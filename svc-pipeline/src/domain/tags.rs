//! Tags: the workspace's catalog of tag names (unique ignoring case), each with one of the
//! seed's eight colors. Records carry tags by name, so renaming a tag renames it on them and
//! deleting one leaves them as they are.

use super::{
    PipelineState, events, input, new_id, now,
    paging::{Window, window},
};
use crate::store::{
    db_error,
    entities::tags::Model as Tag,
    is_unique_violation, record_tags,
    tags::{self, TagFilter},
};
use crm_platform::error::ApiError;
use sea_orm::TransactionTrait;
use serde_json::json;
use tonic::Status;

/// The colors a tag may have (the seed's palette).
pub const COLORS: [&str; 8] = [
    "green", "blue", "purple", "orange", "red", "cyan", "pink", "teal",
];
const DEFAULT_COLOR: &str = "blue";
const NAME_MAX: usize = 50;
const DESCRIPTION_MAX: usize = 500;

/// A tag with the number of contacts and opportunities carrying it.
pub struct TagUsage {
    pub tag: Tag,
    pub usage_count: i64,
}

/// The list's parameters as given.
pub struct TagQuery {
    pub search: String,
    pub color: String,
    pub limit: Option<i32>,
    pub offset: Option<i32>,
}

/// One page of tags.
pub struct TagPage {
    pub tags: Vec<TagUsage>,
    pub window: Window,
    pub total: u64,
}

/// What a caller gives to create a tag.
pub struct NewTag {
    pub name: String,
    pub color: Option<String>,
    pub description: Option<String>,
}

/// What a caller may change on a tag; `None` leaves a field as it is.
pub struct TagChanges {
    pub name: Option<String>,
    pub color: Option<String>,
    pub description: Option<String>,
}

fn color(field: &str, raw: &str) -> Result<String, ApiError> {
    let v = raw.trim().to_ascii_lowercase();
    if COLORS.contains(&v.as_str()) {
        Ok(v)
    } else {
        Err(ApiError::invalid_field(
            field,
            format!("must be one of: {}", COLORS.join(", ")),
        ))
    }
}

fn name_taken(name: &str) -> Status {
    ApiError::already_exists(format!(
        "A tag named '{name}' already exists in this workspace"
    ))
    .with_field("name", "choose a name no other tag of this workspace has")
    .into()
}

fn payload(tag: &Tag) -> serde_json::Value {
    json!({
        "id": tag.id,
        "name": tag.name,
        "color": tag.color,
        "description": tag.description,
    })
}

async fn with_usage(state: &PipelineState, tag: Tag) -> Result<TagUsage, Status> {
    let usage = record_tags::usage(
        &state.db,
        &tag.workspace_id,
        std::slice::from_ref(&tag.name_key),
    )
    .await
    .map_err(db_error("tag usage"))?;
    let usage_count = usage.get(&tag.name_key).copied().unwrap_or(0);
    Ok(TagUsage { tag, usage_count })
}

/// Tags of the workspace by name, filtered and paged, each with its usage (three queries).
pub async fn list(
    state: &PipelineState,
    workspace_id: &str,
    query: TagQuery,
) -> Result<TagPage, Status> {
    let window = window(None, query.limit, query.offset, 50, 100)?;
    let filter = TagFilter {
        search: Some(query.search.trim().to_owned()).filter(|s| !s.is_empty()),
        color: match query.color.trim() {
            "" => None,
            raw => Some(color("color", raw)?),
        },
    };
    let (rows, total) = tags::list(
        &state.db,
        workspace_id,
        &filter,
        window.limit,
        window.offset,
    )
    .await
    .map_err(db_error("list tags"))?;
    let keys: Vec<String> = rows.iter().map(|t| t.name_key.clone()).collect();
    let usage = record_tags::usage(&state.db, workspace_id, &keys)
        .await
        .map_err(db_error("tag usage"))?;
    let tags = rows
        .into_iter()
        .map(|tag| TagUsage {
            usage_count: usage.get(&tag.name_key).copied().unwrap_or(0),
            tag,
        })
        .collect();
    Ok(TagPage {
        tags,
        window,
        total,
    })
}

/// Adds a tag to the catalog; the name must be new to the workspace, ignoring case.
pub async fn create(
    state: &PipelineState,
    workspace_id: &str,
    new: NewTag,
) -> Result<TagUsage, Status> {
    let name = input::required("name", &new.name, NAME_MAX)?;
    let at = now();
    let tag = Tag {
        id: new_id(),
        workspace_id: workspace_id.to_owned(),
        name_key: name.to_lowercase(),
        color: match new.color.as_deref().map(str::trim) {
            None | Some("") => DEFAULT_COLOR.to_owned(),
            Some(raw) => color("color", raw)?,
        },
        description: input::optional("description", new.description.as_deref(), DESCRIPTION_MAX)?,
        name,
        created_at: at,
        updated_at: at,
    };
    if tags::find_by_key(&state.db, workspace_id, &tag.name_key)
        .await
        .map_err(db_error("find tag"))?
        .is_some()
    {
        return Err(name_taken(&tag.name));
    }
    // A concurrent create of the same name loses on the unique index instead. The insert
    // comes first in the transaction so SQLite takes its write lock at once.
    let txn = state.db.begin().await.map_err(db_error("begin"))?;
    tags::insert(&txn, tag.clone()).await.map_err(|e| {
        if is_unique_violation(&e) {
            name_taken(&tag.name)
        } else {
            db_error("insert tag")(e)
        }
    })?;
    events::emit(
        &txn,
        workspace_id,
        "tag.created",
        "tag",
        &tag.id,
        payload(&tag),
    )
    .await
    .map_err(db_error("tag.created event"))?;
    txn.commit().await.map_err(db_error("commit tag"))?;
    state.events_committed();
    with_usage(state, tag).await
}

async fn existing<C: sea_orm::ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    id: &str,
) -> Result<Tag, Status> {
    tags::find(conn, workspace_id, id.trim())
        .await
        .map_err(db_error("find tag"))?
        .ok_or_else(|| ApiError::not_found("Tag", id).into())
}

/// Changes a tag; a new name must be free in the workspace and follows the tag onto every
/// record carrying it, in the same transaction.
pub async fn update(
    state: &PipelineState,
    workspace_id: &str,
    id: &str,
    changes: TagChanges,
) -> Result<TagUsage, Status> {
    let at = now();
    let txn = state.db.begin().await.map_err(db_error("begin"))?;
    // Writing first holds the tag (Postgres) or the database (SQLite) while it is changed.
    if !tags::touch(&txn, workspace_id, id.trim(), at)
        .await
        .map_err(db_error("touch tag"))?
    {
        return Err(ApiError::not_found("Tag", id).into());
    }
    let mut tag = existing(&txn, workspace_id, id).await?;
    let old_key = tag.name_key.clone();
    if let Some(raw) = &changes.name {
        let name = input::required("name", raw, NAME_MAX)?;
        let key = name.to_lowercase();
        if key != old_key
            && tags::find_by_key(&txn, workspace_id, &key)
                .await
                .map_err(db_error("find tag"))?
                .is_some()
        {
            return Err(name_taken(&name));
        }
        tag.name = name;
        tag.name_key = key;
    }
    if let Some(raw) = &changes.color {
        tag.color = color("color", raw)?;
    }
    if let Some(raw) = &changes.description {
        tag.description = input::optional("description", Some(raw), DESCRIPTION_MAX)?;
    }
    tag.updated_at = at;
    let renamed = changes.name.is_some();
    tags::save(&txn, tag.clone()).await.map_err(|e| {
        if is_unique_violation(&e) {
            name_taken(&tag.name)
        } else {
            db_error("save tag")(e)
        }
    })?;
    if renamed {
        if tag.name_key != old_key {
            record_tags::drop_shadowed(&txn, workspace_id, &old_key, &tag.name_key)
                .await
                .map_err(db_error("drop shadowed record tags"))?;
        }
        record_tags::rename(&txn, workspace_id, &old_key, &tag.name)
            .await
            .map_err(db_error("rename record tags"))?;
    }
    events::emit(
        &txn,
        workspace_id,
        "tag.updated",
        "tag",
        &tag.id,
        payload(&tag),
    )
    .await
    .map_err(db_error("tag.updated event"))?;
    txn.commit().await.map_err(db_error("commit tag"))?;
    state.events_committed();
    with_usage(state, tag).await
}

/// Removes a tag from the catalog; returns its name. Records keep carrying the name.
pub async fn delete(state: &PipelineState, workspace_id: &str, id: &str) -> Result<String, Status> {
    let tag = existing(&state.db, workspace_id, id).await?;
    let txn = state.db.begin().await.map_err(db_error("begin"))?;
    // A concurrent delete may have won since the read: then this one finds nothing.
    if !tags::delete(&txn, workspace_id, &tag.id)
        .await
        .map_err(db_error("delete tag"))?
    {
        return Err(ApiError::not_found("Tag", id).into());
    }
    events::emit(
        &txn,
        workspace_id,
        "tag.deleted",
        "tag",
        &tag.id,
        payload(&tag),
    )
    .await
    .map_err(db_error("tag.deleted event"))?;
    txn.commit().await.map_err(db_error("commit tag"))?;
    state.events_committed();
    Ok(tag.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colors_are_the_seeds_eight() {
        assert_eq!(color("color", " Green ").unwrap(), "green");
        for c in COLORS {
            assert_eq!(color("color", c).unwrap(), c);
        }
        let err = color("color", "magenta").unwrap_err().into_status();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(err.message().contains("green, blue, purple"));
    }
}
