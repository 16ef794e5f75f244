//! Workspace members as the seed's "agents": the list with its filters, one agent, and the
//! statistics. Members are `active`; invitees who have not joined are `pending` (their id is
//! the invitation's); nothing deactivates a member yet, so no agent is `inactive`.
//! `active_assignments` comes from svc-pipeline, `last_active` from `agent_activity`.

use super::{AuthState, invitation, role::Role};
use crate::store::{activity, db_error, entities::invitations, invitation as invitations_store};
use chrono::{DateTime, Utc};
use crm_platform::{Principal, error::ApiError};
use std::collections::{BTreeMap, HashMap};
use tonic::Status;

/// Roles in the order `by_role` lists them.
const ROLES: [Role; 5] = [
    Role::Owner,
    Role::Admin,
    Role::Manager,
    Role::Agent,
    Role::Viewer,
];

/// One agent as the seed shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agent {
    /// User id; the invitation id of a pending invitee.
    pub id: String,
    /// Empty for a pending invitee.
    pub name: String,
    pub email: String,
    pub role: String,
    /// `active` or `pending`.
    pub status: &'static str,
    /// When the member joined; `None` for a pending invitee.
    pub joined_at: Option<DateTime<Utc>>,
    /// Open opportunities and live contacts assigned; `None` when not asked for.
    pub active_assignments: Option<u64>,
    /// Latest sign-in, token request or own key use; `None` when never seen.
    pub last_active: Option<DateTime<Utc>>,
}

/// Filters of [`list`] (empty = any).
pub struct AgentFilter {
    /// Only this role.
    pub role: String,
    /// Only this status.
    pub status: String,
    /// Name or email contains this, case-insensitively.
    pub search: String,
    /// Whether to count assignments (the seed's default is yes).
    pub include_assignments: bool,
}

/// The seed's agent statistics.
pub struct AgentStats {
    /// Members and pending invitees.
    pub total_agents: u64,
    /// Members with status active.
    pub active_agents: u64,
    /// Role name -> agents holding it, every role listed.
    pub by_role: BTreeMap<String, u64>,
    /// (agent id, name, assignments) per member, most assignments first.
    pub assignment_distribution: Vec<(String, String, u64)>,
}

fn workspace_of(principal: &Principal) -> Result<&str, Status> {
    if !principal.allows("workspace_members:read") {
        return Err(ApiError::forbidden("missing scope workspace_members:read")
            .with_meta("required_scope", "workspace_members:read")
            .into());
    }
    principal.workspace()
}

/// Every agent of the workspace: members oldest first, then pending invitees.
async fn everyone(state: &AuthState, workspace_id: &str) -> Result<Vec<Agent>, Status> {
    let members = crate::store::workspace::members(&state.db, workspace_id).await?;
    let seen = activity::last_active(&state.db, workspace_id)
        .await
        .map_err(db_error("read member activity"))?;
    let now = super::now();
    let invitees = invitations_store::list(&state.db, workspace_id)
        .await
        .map_err(db_error("list invitations"))?
        .into_iter()
        .filter(|i| invitation::status(i, now) == "pending");
    let mut agents: Vec<Agent> = members
        .into_iter()
        .map(|(m, u)| Agent {
            last_active: seen.get(&u.id).copied(),
            id: u.id,
            name: u.name,
            email: u.email,
            role: m.role,
            status: "active",
            joined_at: Some(m.created_at),
            active_assignments: None,
        })
        .collect();
    agents.extend(invitees.map(pending));
    Ok(agents)
}

fn pending(i: invitations::Model) -> Agent {
    Agent {
        id: i.id,
        name: String::new(),
        email: i.email,
        role: i.role,
        status: "pending",
        joined_at: None,
        active_assignments: None,
        last_active: None,
    }
}

/// Fills `active_assignments` of the members among `agents` (a pending invitee holds none).
/// Without svc-pipeline configured every count is 0.
async fn count_assignments(
    state: &AuthState,
    workspace_id: &str,
    agents: &mut [Agent],
) -> Result<(), Status> {
    let members: Vec<String> = agents
        .iter()
        .filter(|a| a.status == "active")
        .map(|a| a.id.clone())
        .collect();
    let counts = match &state.assignments {
        Some(pipeline) if !members.is_empty() => pipeline.count(workspace_id, members).await?,
        _ => HashMap::new(),
    };
    for a in agents {
        a.active_assignments = Some(counts.get(&a.id).copied().unwrap_or(0));
    }
    Ok(())
}

/// Agents of the caller's workspace matching the filter.
pub async fn list(
    state: &AuthState,
    principal: &Principal,
    filter: AgentFilter,
) -> Result<Vec<Agent>, Status> {
    let workspace_id = workspace_of(principal)?;
    if !filter.role.is_empty() {
        Role::parse(&filter.role).map_err(|_| {
            ApiError::invalid_field(
                "role",
                "must be one of owner, admin, manager, agent, viewer",
            )
        })?;
    }
    if !matches!(
        filter.status.as_str(),
        "" | "active" | "inactive" | "pending"
    ) {
        return Err(
            ApiError::invalid_field("status", "must be one of active, inactive, pending").into(),
        );
    }
    let search = filter.search.trim().to_lowercase();
    let mut agents: Vec<Agent> = everyone(state, workspace_id)
        .await?
        .into_iter()
        .filter(|a| filter.role.is_empty() || a.role == filter.role)
        .filter(|a| filter.status.is_empty() || a.status == filter.status)
        .filter(|a| {
            search.is_empty()
                || a.name.to_lowercase().contains(&search)
                || a.email.to_lowercase().contains(&search)
        })
        .collect();
    if filter.include_assignments {
        count_assignments(state, workspace_id, &mut agents).await?;
    }
    Ok(agents)
}

/// One agent of the caller's workspace, by user id (or a pending invitee's invitation id);
/// anyone else, members of other workspaces included, is not found.
pub async fn get(
    state: &AuthState,
    principal: &Principal,
    id: &str,
    include_assignments: bool,
) -> Result<Agent, Status> {
    let workspace_id = workspace_of(principal)?;
    let wanted = uuid::Uuid::parse_str(id.trim())
        .map(|u| u.to_string())
        .map_err(|_| ApiError::invalid_field("id", "must be an agent id (UUID)"))?;
    let mut agent = everyone(state, workspace_id)
        .await?
        .into_iter()
        .find(|a| a.id == wanted)
        .ok_or_else(|| ApiError::not_found("Agent", id))?;
    if include_assignments {
        count_assignments(state, workspace_id, std::slice::from_mut(&mut agent)).await?;
    }
    Ok(agent)
}

/// Head counts by status and role, and each member's assignments.
pub async fn stats(state: &AuthState, principal: &Principal) -> Result<AgentStats, Status> {
    let workspace_id = workspace_of(principal)?;
    let mut agents = everyone(state, workspace_id).await?;
    count_assignments(state, workspace_id, &mut agents).await?;
    let mut by_role: BTreeMap<String, u64> =
        ROLES.iter().map(|r| (r.as_str().to_owned(), 0)).collect();
    for a in &agents {
        *by_role.entry(a.role.clone()).or_default() += 1;
    }
    let mut assignment_distribution: Vec<(String, String, u64)> = agents
        .iter()
        .filter(|a| a.status == "active")
        .map(|a| {
            let held = a.active_assignments.unwrap_or(0);
            (a.id.clone(), a.name.clone(), held)
        })
        .collect();
    // Most assignments first; ties keep the members' order (oldest first).
    assignment_distribution.sort_by_key(|a| std::cmp::Reverse(a.2));
    Ok(AgentStats {
        total_agents: agents.len() as u64,
        active_agents: agents.iter().filter(|a| a.status == "active").count() as u64,
        by_role,
        assignment_distribution,
    })
}
