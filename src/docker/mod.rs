//! The Docker side: reading image archives, and asking the daemon (over
//! its socket, or through the docker command).

pub mod archive;
pub mod cli;
pub mod client;
pub mod engine;
