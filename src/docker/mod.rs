//! The Docker side: reading image archives, running the docker command,
//! and reading `docker save` from the daemon's socket.

pub mod archive;
pub mod cli;
pub mod engine;
