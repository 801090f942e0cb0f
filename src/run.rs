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

use crate::arvados::api::ApiClient;
use crate::error::Result;
use crate::request::Request;
use crate::settings::{Env, Settings};

/// What the cluster connection needs, resolved once per run.
pub struct Context {
    pub env: Env,
    pub settings: Settings,
    pub api: ApiClient,
}

impl Context {
    /// Read settings.conf and the `ARVADOS_*` environment and make the API
    /// client. No request is sent yet.
    pub fn connect(env: Env, retries: u64) -> Result<Context> {
        let settings = Settings::load(&env)?;
        crate::log::set_debug(settings.debug());
        let config = settings.client_config(&env)?;
        let retries = u32::try_from(retries).unwrap_or(u32::MAX);
        let api = ApiClient::new(&config, retries)?;
        Ok(Context { env, settings, api })
    }
}

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
