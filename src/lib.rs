//! arv-keepdocker: upload Docker images into Arvados Keep and tag them so
//! that the cluster can find them, or list the images already stored.
//!
//! The crate is a library plus a thin binary (`src/main.rs`) so that the
//! benchmark and integration targets under `compat-tests/` can drive the
//! same code the command runs.

#![forbid(unsafe_code)]

pub mod arvados;
pub mod cli;
pub mod docker;
pub mod error;
#[cfg(test)]
mod fuzzing;
pub mod images;
pub mod list;
pub mod lock;
pub mod log;
pub mod pipeline;
pub mod progress;
pub mod request;
pub mod run;
pub mod settings;
pub mod timestamp;
