//! The Docker side: reading image archives, and running the docker command.

pub mod archive;
pub mod cli;
