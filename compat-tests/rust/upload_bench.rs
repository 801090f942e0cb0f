//! The upload engine on its own, for `compat-tests/bench-upload`: reads
//! `ARVADOS_*` settings like the tool, uploads one file with the Keep
//! engine, saves it as a one-file collection, and prints the collection's
//! portable data hash on stdout. Exactly the work legacy `arv-put
//! --portable-data-hash --filename NAME FILE` does, so the two can be timed
//! side by side.
//!
//! Usage: `upload_bench FILE [NAME]`

use std::process::ExitCode;

use arv_keepdocker::internal::arvados::ApiClient;
use arv_keepdocker::internal::arvados::Event;
use arv_keepdocker::internal::arvados::KeepClient;
use arv_keepdocker::internal::settings::{Env, Settings};
use arv_keepdocker::internal::Error;
use serde_json::json;

fn run(path: &str, name: &str) -> Result<String, Error> {
    let env = Env::from_process();
    let config = Settings::load(&env)?.client_config(&env)?;
    let api = ApiClient::new(&config, 3)?;
    let discovery = api.discovery()?;
    let keep = KeepClient::for_cluster(&api, &config, &discovery)?;
    let file = std::fs::File::open(path).map_err(|source| Error::Input {
        what: path.to_string(),
        source,
    })?;
    let uploaded = keep.upload(file, path, None, &mut |event| {
        if let Event::Warning(w) = event {
            eprintln!("warning: {w}");
        }
    })?;
    let collection = api.create_collection(&json!({
        "manifest_text": uploaded.manifest(name),
        "name": format!("upload_bench {name}"),
    }))?;
    Ok(collection.portable_data_hash.unwrap_or_default())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: upload_bench FILE [NAME]");
        return ExitCode::from(2);
    };
    let name = args.get(1).cloned().unwrap_or_else(|| {
        std::path::Path::new(path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "data".into())
    });
    match run(path, &name) {
        Ok(pdh) => {
            println!("{pdh}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("upload_bench: {e}");
            ExitCode::FAILURE
        }
    }
}
