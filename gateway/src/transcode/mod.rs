//! REST ↔ gRPC transcoding driven by the descriptor set.

pub mod codec;
pub mod raw_body;
pub mod request;
pub mod response;
pub mod rest;
pub mod table;
