//! The tonic services: thin, they map proto to domain and back.

pub mod api_clients;
pub mod api_keys;
pub mod auth;
mod convert;
mod json_struct;
pub mod validation;
pub mod workspaces;
