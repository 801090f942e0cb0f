//! The top of the pipeline: connect to the cluster, then either list the
//! images or run the two phases of an upload.
//!
//! ```text
//! Request::List    -> list::run
//! Request::Upload  -> pipeline::run (ensure the collection, then the tags)
//! ```
//!
//! Everything that reads the process environment happens here (or below),
//! never in the command-line parser.

use std::io::Write;

use crate::error::Result;
use crate::pipeline::Context;
use crate::request::Request;
use crate::settings::Env;

/// Carry out a parsed request. Output meant for stdout goes to `stdout`;
/// log lines and progress go to stderr.
pub fn run(request: Request, stdout: &mut dyn Write) -> Result<()> {
    match request {
        Request::List(list) => {
            let cx = Context::connect(Env::from_process(), list.retries)?;
            crate::list::run(&cx.api, list.format, stdout)
        }
        Request::Upload(upload) => {
            let cx = Context::connect(Env::from_process(), upload.retries)?;
            crate::pipeline::run(&cx, &upload, stdout)
        }
    }
}
