//! Everything that speaks to an Arvados cluster: the REST API, Keep, and
//! the manifest text both of them exchange. Nothing here knows about the
//! command line.
//!
//! * `http`: the one ureq agent (TLS roots), request ids, the retry clock;
//! * `api`: REST calls, retries, keyset listing, typed records;
//! * `keep`: Keep services, probe order, block writes and reads;
//! * `keep_read`: random access to one file of a collection, block by block;
//! * `upload`: the streaming engine that cuts a `Read` into blocks and
//!   writes them on several threads;
//! * `manifest`: locators, name escaping, manifests, portable data hashes;
//! * `links`: the preference order of Docker image links.

pub mod api;
pub mod http;
pub mod keep;
pub mod keep_read;
pub mod links;
pub mod manifest;
pub mod upload;
