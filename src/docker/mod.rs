//! The Docker side: reading image archives (and, later, the docker command).

pub mod archive;
