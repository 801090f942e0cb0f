//! arv-keepdocker: put Docker images into Arvados Keep and tag them so
//! that the cluster finds them, or list the images already there.
//!
//! The public API is [`images`]: searches, the metadata links, and the
//! upload of an image from an archive, the Docker daemon or a collection
//! (the command adds a registry), each returning values and printing
//! nothing. The command
//! (`src/main.rs`, `run`) is built on it: its listing and its uploads run
//! the functions the library's listing and uploads run, with the command's
//! plan (dry run, storage options, progress) in place of a library one.
//!
//! # Code map, in the order data flows
//!
//! ```text
//! cli/          the command line: one flag table (flags.rs), the lexopt
//!               loop with argparse's habits (mod.rs), help (doc.rs);
//!               docker/, the `arv-docker` commands (load, push, pull,
//!               images) with their own table, parsed into the same request
//! request       the one request value every command-line form becomes
//! run           the command: connect, then list (images::listing, then
//!               list::print) or upload (resolve the source and project,
//!               images::from_*_with, print the UUID or the report)
//! images        the library API; both phases of each upload source
//! list          the listing: links, preference order, rows, the legacy
//!               table (every search and the listing run the same code)
//! pipeline/     the upload steps: phase 1, ensure the image collection,
//!               one step per source (daemon.rs, the archive in
//!               collection.rs and source.rs, from_collection.rs,
//!               registry.rs); phase 2, the links (tags.rs); report.rs;
//!               session.rs holds the connection, the plan and the locks,
//!               checkpoint.rs the resume state, layers.rs the layer index
//!               later uploads reuse layers by
//! arvados/      REST API (api.rs), Keep (keep.rs, keep_read.rs), the
//!               streaming upload engine, a stream or a file in pieces
//!               (upload.rs), manifests and
//!               portable data hashes (manifest.rs), link preference
//!               (links.rs)
//! docker/       the daemon (engine.rs over its socket, cli.rs through the
//!               docker command, client.rs choosing), archives (archive/)
//! registry/     pulling from registries: challenges and credentials
//!               (auth.rs), requests, tokens, retries (client.rs), manifests
//!               and platforms (manifest.rs), the checked blob reader
//!               (blob.rs)
//! reference     `docker://` references, parsed as Docker does
//! progress      the progress line and arv-put's machine format
//! settings      settings.conf and the ARVADOS_* environment
//! lock          the per-image lock file
//! error         the crate's error enum and its messages
//! log           log records and the sink they go to
//! net           what the HTTP clients share: clock, PEM bundles, transport
//!               failures, percent-encoding
//! http1         reading an HTTP/1.1 answer, for the requests ureq does not
//!               make (the Docker daemon's socket, the plain Keep PUT)
//! timestamp     the legacy timestamp parse and dates
//! ```
//!
//! Which module may use which is the list `LAYERS` at the end of this file
//! (lowest first); a test there checks every import against it.

#![forbid(unsafe_code)]

pub(crate) mod arvados;
pub(crate) mod cli;
pub(crate) mod docker;
pub(crate) mod error;
#[cfg(test)]
mod fuzzing;
pub(crate) mod http1;
pub mod images;
pub(crate) mod list;
pub(crate) mod lock;
pub(crate) mod log;
pub(crate) mod net;
pub(crate) mod pipeline;
pub(crate) mod progress;
pub(crate) mod reference;
pub(crate) mod registry;
pub(crate) mod request;
pub(crate) mod run;
pub(crate) mod settings;
pub(crate) mod timestamp;

/// Not an API: what the command (`src/main.rs`) and the test and benchmark
/// targets under `compat-tests/rust` reach inside the crate. It changes
/// whenever they do.
#[doc(hidden)]
pub mod internal {
    pub use crate::error::Error;
    pub use crate::run::run;

    pub mod pipeline {
        pub use crate::pipeline::session::Context;
        pub use crate::run::run_pulled;
    }

    pub mod request {
        pub use crate::request::{Input, Request, Source, Upload};
    }

    pub mod cli {
        pub use crate::cli::{parse, prog_name, CliError, Env, Parsed};
        pub use crate::request::Request;
        pub mod doc {
            pub use crate::cli::doc::{help, usage_error, version};
        }
        pub mod docker {
            pub use crate::cli::docker::{parse, DockerEnv, DockerError, DockerParsed, PROG};
            pub mod doc {
                pub use crate::cli::docker::doc::{help, usage_error};
            }
        }
    }

    pub mod log {
        pub use crate::log::{error, log, set_debug, set_sink, stderr_sink, Level};
    }

    pub mod arvados {
        pub use crate::arvados::api::{ApiClient, KeysetLister, Link};
        pub use crate::arvados::http::{new_agent, Clock};
        pub use crate::arvados::keep::KeepClient;
        pub use crate::arvados::manifest::{md5_hex, portable_data_hash, BLOCK_SIZE};
        pub use crate::arvados::upload::{Event, Progress, Uploaded};
    }

    pub mod settings {
        pub use crate::settings::{ClientConfig, Env, Settings};
    }

    pub mod registry {
        pub use crate::reference::{BadReference, Reference};
        pub use crate::registry::{
            BlobSource, Compression, Descriptor, Platform, PullOptions, Registry, RegistryError,
            Resolved, LOGGER,
        };
    }
}

/// The layers of the crate: a module may use only modules of lower layers
/// (and its own). Checked by reading every `crate::` and `super::` path
/// in the sources, tests included.
#[cfg(test)]
mod layering {
    use std::collections::BTreeMap;
    use std::path::Path;

    /// Top-level modules, lowest first; one line per layer.
    const LAYERS: &[&[&str]] = &[
        &["timestamp", "fuzzing", "net", "http1"],
        &["log"],
        &["reference"],
        &["request"],
        &["docker"],
        &["error"],
        &["settings", "lock"],
        &["progress"],
        &["arvados", "registry"],
        &["pipeline"],
        &["list"],
        &["images"],
        &["run", "cli"],
    ];

    /// The files of `pipeline/`, lowest first: the phase steps over the
    /// shared collection operations over the session, and `mod.rs` (the
    /// pipeline itself) on top.
    const PIPELINE: &[&[&str]] = &[
        &["report", "format", "checkpoint", "layers"],
        &["source"],
        &["session"],
        &["collection"],
        &["tags"],
        &["daemon", "from_collection", "registry"],
        &["mod"],
    ];

    fn rank(layers: &[&[&str]]) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for (i, layer) in layers.iter().enumerate() {
            for name in *layer {
                out.insert(name.to_string(), i);
            }
        }
        out
    }

    /// The leading identifier of `text`.
    fn ident(text: &str) -> &str {
        let text = text.trim_start();
        let end = text
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(text.len());
        &text[..end]
    }

    /// The module names that follow `prefix` in `text`, braces opened:
    /// `super::{a, b::c}` gives `a` and `b`.
    fn targets<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
        let mut out = Vec::new();
        // Not the tail of a longer path such as `super::super::`.
        for (at, _) in text.match_indices(prefix) {
            if text[..at].ends_with("::") {
                continue;
            }
            let rest = &text[at + prefix.len()..];
            let Some(group) = rest.strip_prefix('{') else {
                out.push(ident(rest));
                continue;
            };
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        out.push(ident(&group[start..i]));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.push(ident(&group[start..i]));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        }
        out.retain(|name| !name.is_empty() && *name != "self");
        out
    }

    fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn imports_only_point_down() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let top = rank(LAYERS);
        let inner = rank(PIPELINE);
        let mut files = Vec::new();
        sources(&src, &mut files);
        let mut upward = Vec::new();
        for file in files {
            let rel = file
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let module = rel.split(['/', '.']).next().unwrap().to_string();
            if module == "lib" || module == "main" {
                continue;
            }
            let text = std::fs::read_to_string(&file).unwrap();
            let own = *top.get(&module).unwrap_or_else(|| {
                panic!("src/{rel}: module {module} has no layer in lib.rs LAYERS")
            });
            for target in targets(&text, "crate::") {
                if target == module {
                    continue;
                }
                match top.get(target) {
                    Some(&r) if r < own => {}
                    _ => upward.push(format!("src/{rel} uses crate::{target}")),
                }
            }
            if module == "pipeline" {
                let name = rel.trim_start_matches("pipeline/").trim_end_matches(".rs");
                let own = inner[name];
                for target in targets(&text, "super::") {
                    // `super::*` in a test module, or a submodule's parent
                    // that is the file itself.
                    if name == "mod" || !inner.contains_key(target) {
                        continue;
                    }
                    if inner[target] >= own && target != name {
                        upward.push(format!("src/{rel} uses super::{target}"));
                    }
                }
                for target in targets(&text, "crate::pipeline::") {
                    if inner.get(target).is_none_or(|&r| r >= own) && target != name {
                        upward.push(format!("src/{rel} uses crate::pipeline::{target}"));
                    }
                }
            }
        }
        assert!(
            upward.is_empty(),
            "imports that point up:\n{}",
            upward.join("\n")
        );
    }

    #[test]
    fn the_check_sees_paths() {
        let text = "use crate::log;\nuse super::super::x;\nlet y = crate::arvados::api::f();\n\
                    use super::{format, session::{Plan, Session}, self};\nuse crate::{a, b::c};";
        assert_eq!(targets(text, "crate::"), ["log", "arvados", "a", "b"]);
        assert_eq!(targets(text, "super::"), ["super", "format", "session"]);
    }
}
