//! Tags carried by contacts and opportunities, one row per (record, tag), so a page of records
//! loads its tags in one query and tag usage is a count.

use super::entities::record_tags as rt;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use std::collections::HashMap;

/// `record_type` of contacts.
pub const CONTACT: &str = "contact";
/// `record_type` of opportunities.
pub const OPPORTUNITY: &str = "opportunity";

/// Replaces a record's tags (already validated and deduplicated).
pub async fn set<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    record_type: &str,
    record_id: &str,
    tags: &[String],
) -> Result<(), DbErr> {
    rt::Entity::delete_many()
        .filter(rt::Column::WorkspaceId.eq(workspace_id))
        .filter(rt::Column::RecordType.eq(record_type))
        .filter(rt::Column::RecordId.eq(record_id))
        .exec(conn)
        .await?;
    if tags.is_empty() {
        return Ok(());
    }
    let rows = tags.iter().enumerate().map(|(i, tag)| rt::ActiveModel {
        workspace_id: Set(workspace_id.to_owned()),
        record_type: Set(record_type.to_owned()),
        record_id: Set(record_id.to_owned()),
        tag: Set(tag.clone()),
        tag_key: Set(tag.to_lowercase()),
        position: Set(i as i32),
    });
    rt::Entity::insert_many(rows).exec(conn).await?;
    Ok(())
}

/// Tags of many records in one query, in the order they were given.
pub async fn load<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    record_type: &str,
    record_ids: &[String],
) -> Result<HashMap<String, Vec<String>>, DbErr> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    if record_ids.is_empty() {
        return Ok(out);
    }
    let rows = rt::Entity::find()
        .filter(rt::Column::WorkspaceId.eq(workspace_id))
        .filter(rt::Column::RecordType.eq(record_type))
        .filter(rt::Column::RecordId.is_in(record_ids.iter().cloned()))
        .order_by_asc(rt::Column::RecordId)
        .order_by_asc(rt::Column::Position)
        .all(conn)
        .await?;
    for row in rows {
        out.entry(row.record_id).or_default().push(row.tag);
    }
    Ok(out)
}

/// How many records carry each of `tag_keys` (lowercased names), in one query.
pub async fn usage<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    tag_keys: &[String],
) -> Result<HashMap<String, i64>, DbErr> {
    if tag_keys.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, i64)> = rt::Entity::find()
        .select_only()
        .column(rt::Column::TagKey)
        .column_as(rt::Column::RecordId.count(), "n")
        .filter(rt::Column::WorkspaceId.eq(workspace_id))
        .filter(rt::Column::TagKey.is_in(tag_keys.iter().cloned()))
        .group_by(rt::Column::TagKey)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows.into_iter().collect())
}

/// Renames a tag on every record carrying it (a tag renamed in the catalog follows its uses).
pub async fn rename<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    old_key: &str,
    new_name: &str,
) -> Result<(), DbErr> {
    use sea_orm::sea_query::Expr;
    rt::Entity::update_many()
        .col_expr(rt::Column::Tag, Expr::value(new_name))
        .col_expr(rt::Column::TagKey, Expr::value(new_name.to_lowercase()))
        .filter(rt::Column::WorkspaceId.eq(workspace_id))
        .filter(rt::Column::TagKey.eq(old_key))
        .exec(conn)
        .await?;
    Ok(())
}

/// Before renaming `old_key` to `new_key` (two different keys): drops the `old_key` rows of
/// records that already carry `new_key`, which the rename would otherwise duplicate (the key
/// is part of the primary key). Such a record keeps one tag, the new one.
pub async fn drop_shadowed<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    old_key: &str,
    new_key: &str,
) -> Result<(), DbErr> {
    use sea_orm::sea_query::Query;
    for record_type in [CONTACT, OPPORTUNITY] {
        let carriers = Query::select()
            .column(rt::Column::RecordId)
            .from(rt::Entity)
            .and_where(rt::Column::WorkspaceId.eq(workspace_id))
            .and_where(rt::Column::RecordType.eq(record_type))
            .and_where(rt::Column::TagKey.eq(new_key))
            .to_owned();
        rt::Entity::delete_many()
            .filter(rt::Column::WorkspaceId.eq(workspace_id))
            .filter(rt::Column::RecordType.eq(record_type))
            .filter(rt::Column::TagKey.eq(old_key))
            .filter(rt::Column::RecordId.in_subquery(carriers))
            .exec(conn)
            .await?;
    }
    Ok(())
}
