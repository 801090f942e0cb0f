//! Everything that speaks to an Arvados cluster: the REST API, Keep, and
//! the manifest text both of them exchange. Nothing here knows about the
//! command line.

pub mod api;
pub mod http;
pub mod keep;
pub mod manifest;
pub mod upload;
