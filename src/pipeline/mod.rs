//! The steps of an upload, below the library (`images`) and the command
//! (`run`), which string them together:
//!
//! ```text
//! phase 1: ensure the image collection exists, one step per source
//!     daemon.rs            the Docker daemon
//!     collection.rs        an archive (file or standard input; source.rs reads it)
//!     from_collection.rs   a collection (`--source=UUID|PDH`), which resolves
//!                          its own target: with `--project-uuid=source` that
//!                          is only known once the collection is read
//!     registry.rs          a registry (`--source=docker://REF`)
//! phase 2: ensure the metadata links exist (tags.rs)
//! ```
//!
//! The layer index (which layers an image collection holds, for reuse by
//! later uploads) is layers.rs. The connection, the session and the plan
//! are in session.rs; what a run
//! made or reused is described by report.rs. `--dry-run` runs the same
//! steps with every write left out: Keep blocks are hashed but not sent
//! (`KeepClient::dry_run`), and the collection and link creations go
//! through the `Session`, which skips them.

pub mod checkpoint;
pub mod collection;
pub mod daemon;
pub mod format;
pub mod from_collection;
pub mod layers;
pub mod registry;
pub mod report;
pub mod session;
pub mod source;
pub mod tags;
