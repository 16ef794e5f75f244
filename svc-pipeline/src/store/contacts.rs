//! Queries on `contacts`. Deleted contacts (`deleted_at` set) are invisible to all of them.

use super::contains_ignoring_case;
use super::entities::{contacts as ct, record_tags as rt};
use super::record_tags::CONTACT;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Select, Set,
};
use std::collections::HashMap;

/// The basic search's criteria, already normalized; all given ones must match.
#[derive(Default)]
pub struct BasicSearch {
    pub id: Option<String>,
    /// E.164, matched exactly.
    pub phone: Option<String>,
    /// Lowercase, matched exactly (stored emails are lowercase).
    pub email: Option<String>,
    /// Contained in the first name, ignoring case.
    pub firstname: Option<String>,
    /// Contained in the last name, ignoring case.
    pub lastname: Option<String>,
}

/// The enhanced search's criteria, already normalized; all given ones must match.
#[derive(Default)]
pub struct EnhancedSearch {
    pub contact_id: Option<String>,
    /// E.164, matched exactly.
    pub phone_number: Option<String>,
    /// Matched ignoring case.
    pub lead_status: Option<String>,
    /// Lowercased tag name the contact carries.
    pub tag_key: Option<String>,
    pub follow_up_date: Option<NaiveDate>,
    pub webhook_name: Option<String>,
    /// created_at >= this.
    pub from: Option<DateTime<Utc>>,
    /// created_at <= this.
    pub to: Option<DateTime<Utc>>,
}

fn live(workspace_id: &str) -> Select<ct::Entity> {
    ct::Entity::find()
        .filter(ct::Column::WorkspaceId.eq(workspace_id))
        .filter(ct::Column::DeletedAt.is_null())
}

/// Stores a new contact.
pub async fn insert<C: ConnectionTrait>(conn: &C, contact: ct::Model) -> Result<(), DbErr> {
    ct::Entity::insert(ct::ActiveModel::from(contact))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Writes every column of an existing contact.
pub async fn save<C: ConnectionTrait>(conn: &C, contact: ct::Model) -> Result<(), DbErr> {
    let workspace_id = contact.workspace_id.clone();
    let id = contact.id.clone();
    // Every column is written (a model converts to "unchanged" values, which an update skips).
    let mut active = ct::ActiveModel::from(contact).reset_all();
    // Identity columns never change; the filter below pins the row instead.
    active.id = sea_orm::ActiveValue::NotSet;
    active.workspace_id = sea_orm::ActiveValue::NotSet;
    ct::Entity::update_many()
        .set(active)
        .filter(ct::Column::WorkspaceId.eq(workspace_id))
        .filter(ct::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Bumps a live contact's `updated_at`; false when there is no such contact. A change's
/// transaction starts with this write, which locks the row (Postgres) or the database
/// (SQLite) before the contact is read, so concurrent changes apply one after the other
/// instead of failing to upgrade a read lock.
pub async fn touch<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    id: &str,
    at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let done = ct::Entity::update_many()
        .set(ct::ActiveModel {
            updated_at: Set(at),
            ..Default::default()
        })
        .filter(ct::Column::WorkspaceId.eq(workspace_id))
        .filter(ct::Column::Id.eq(id))
        .filter(ct::Column::DeletedAt.is_null())
        .exec(conn)
        .await?;
    Ok(done.rows_affected > 0)
}

/// Marks a contact deleted; its phone number becomes free for a new contact.
pub async fn soft_delete<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    id: &str,
    at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let done = ct::Entity::update_many()
        .set(ct::ActiveModel {
            deleted_at: Set(Some(at)),
            updated_at: Set(at),
            ..Default::default()
        })
        .filter(ct::Column::WorkspaceId.eq(workspace_id))
        .filter(ct::Column::Id.eq(id))
        .filter(ct::Column::DeletedAt.is_null())
        .exec(conn)
        .await?;
    Ok(done.rows_affected > 0)
}

/// One live contact of the workspace.
pub async fn find<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    id: &str,
) -> Result<Option<ct::Model>, DbErr> {
    live(workspace_id)
        .filter(ct::Column::Id.eq(id))
        .one(conn)
        .await
}

/// Live contacts of the workspace by id, in one query (for records that reference them).
pub async fn find_many<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    ids: &[String],
) -> Result<HashMap<String, ct::Model>, DbErr> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = live(workspace_id)
        .filter(ct::Column::Id.is_in(ids.iter().cloned()))
        .all(conn)
        .await?;
    Ok(rows.into_iter().map(|c| (c.id.clone(), c)).collect())
}

/// The live contact holding an E.164 number in the workspace, if one does.
pub async fn find_by_phone<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    phone: &str,
) -> Result<Option<ct::Model>, DbErr> {
    live(workspace_id)
        .filter(ct::Column::PhoneNumber.eq(phone))
        .one(conn)
        .await
}

/// Basic search: at most `limit` matches, newest first.
pub async fn search<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    by: &BasicSearch,
    limit: u64,
) -> Result<Vec<ct::Model>, DbErr> {
    let mut cond = Condition::all();
    if let Some(id) = &by.id {
        cond = cond.add(ct::Column::Id.eq(id.as_str()));
    }
    if let Some(phone) = &by.phone {
        cond = cond.add(ct::Column::PhoneNumber.eq(phone.as_str()));
    }
    if let Some(email) = &by.email {
        cond = cond.add(ct::Column::Email.eq(email.as_str()));
    }
    if let Some(name) = &by.firstname {
        cond = cond.add(contains_ignoring_case(ct::Column::Firstname, name));
    }
    if let Some(name) = &by.lastname {
        cond = cond.add(contains_ignoring_case(ct::Column::Lastname, name));
    }
    live(workspace_id)
        .filter(cond)
        .order_by_desc(ct::Column::CreatedAt)
        .order_by_desc(ct::Column::Id)
        .limit(limit)
        .all(conn)
        .await
}

/// Enhanced search: one page of matches, newest first, and the number of all matches
/// (two queries whatever the page size).
pub async fn enhanced_search<C: ConnectionTrait>(
    conn: &C,
    workspace_id: &str,
    by: &EnhancedSearch,
    limit: u64,
    offset: u64,
) -> Result<(Vec<ct::Model>, u64), DbErr> {
    let mut cond = Condition::all();
    if let Some(id) = &by.contact_id {
        cond = cond.add(ct::Column::Id.eq(id.as_str()));
    }
    if let Some(phone) = &by.phone_number {
        cond = cond.add(ct::Column::PhoneNumber.eq(phone.as_str()));
    }
    if let Some(status) = &by.lead_status {
        cond = cond.add(Func::lower(Expr::col(ct::Column::LeadStatus)).eq(status.to_lowercase()));
    }
    if let Some(tag_key) = &by.tag_key {
        // Contacts carrying the tag, via record_tags' (workspace_id, tag_key, record_type) index.
        let carriers = Query::select()
            .column(rt::Column::RecordId)
            .from(rt::Entity)
            .and_where(rt::Column::WorkspaceId.eq(workspace_id))
            .and_where(rt::Column::RecordType.eq(CONTACT))
            .and_where(rt::Column::TagKey.eq(tag_key.as_str()))
            .to_owned();
        cond = cond.add(ct::Column::Id.in_subquery(carriers));
    }
    if let Some(date) = by.follow_up_date {
        cond = cond.add(ct::Column::FollowUpDate.eq(date));
    }
    if let Some(name) = &by.webhook_name {
        cond = cond.add(ct::Column::WebhookName.eq(name.as_str()));
    }
    if let Some(from) = by.from {
        cond = cond.add(ct::Column::CreatedAt.gte(from));
    }
    if let Some(to) = by.to {
        cond = cond.add(ct::Column::CreatedAt.lte(to));
    }
    let matching = live(workspace_id).filter(cond);
    let total = matching.clone().count(conn).await?;
    let page = matching
        .order_by_desc(ct::Column::CreatedAt)
        .order_by_desc(ct::Column::Id)
        .limit(limit)
        .offset(offset)
        .all(conn)
        .await?;
    Ok((page, total))
}
