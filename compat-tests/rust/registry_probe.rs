//! The registry client on its own, for
//! `compat-tests/tests/test_registry_client.py`: resolves one `docker://`
//! reference as the tool would (credentials from `DOCKER_CONFIG` or
//! `~/.docker`, CA bundle from `SSL_CERT_FILE`), reads every layer blob
//! through the client's checked reader, and prints one JSON line: the
//! reference, its local name, the manifest digest, the image id, and for
//! the config and each layer its descriptor and the size and sha256 of the
//! bytes actually read. On failure it prints the client's one-line error
//! on stderr (`registry_probe: ERROR: ...`) and exits 1.
//!
//! Usage: `registry_probe REF [--platform OS/ARCH[/VARIANT]] [--retries N]
//!   [--insecure-registry HOST]... [--certs-dir DIR] [--max-retry-after SECS]
//!   [--debug]`

use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

use arv_keepdocker::internal::log;
use arv_keepdocker::internal::registry::{
    BlobSource, Platform, PullOptions, Reference, Registry, RegistryError,
};
use arv_keepdocker::internal::settings::Env;
use serde_json::json;
use sha2::{Digest, Sha256};

struct Args {
    reference: String,
    platform: Platform,
    retries: u32,
    insecure: Vec<String>,
    certs_dir: Option<String>,
    max_retry_after: Option<u64>,
    debug: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut out = Args {
        reference: String::new(),
        platform: Platform::default_target(),
        retries: 3,
        insecure: Vec::new(),
        certs_dir: None,
        max_retry_after: None,
        debug: false,
    };
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--platform" => out.platform = Platform::parse(&value("--platform")?)?,
            "--retries" => {
                out.retries = value("--retries")?
                    .parse()
                    .map_err(|e| format!("--retries: {e}"))?
            }
            "--insecure-registry" => out.insecure.push(value("--insecure-registry")?),
            "--certs-dir" => out.certs_dir = Some(value("--certs-dir")?),
            "--max-retry-after" => {
                out.max_retry_after = Some(
                    value("--max-retry-after")?
                        .parse()
                        .map_err(|e| format!("--max-retry-after: {e}"))?,
                )
            }
            "--debug" => out.debug = true,
            _ if arg.starts_with("--") => return Err(format!("unknown option {arg}")),
            _ if out.reference.is_empty() => out.reference = arg,
            _ => return Err(format!("unexpected argument {arg:?}")),
        }
    }
    if out.reference.is_empty() {
        return Err("usage: registry_probe REF [options]".into());
    }
    Ok(out)
}

fn run(args: &Args) -> Result<serde_json::Value, RegistryError> {
    let reference = Reference::parse(args.reference.trim_start_matches("docker://"))
        .map_err(|e| RegistryError::Other(e.to_string()))?;
    let mut options =
        PullOptions::from_env(&Env::from_process(), args.retries, args.insecure.clone());
    if let Some(dir) = &args.certs_dir {
        options.certs_dir = Some(dir.into());
    }
    options.max_retry_after = args.max_retry_after.map(Duration::from_secs);
    let registry = Registry::new(options)?;
    let resolved = registry.resolve(&reference, &args.platform)?;
    let mut layers = Vec::new();
    for layer in &resolved.layers {
        let mut reader = registry.open_blob(layer)?;
        let mut hasher = Sha256::new();
        let mut total = 0u64;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = reader.read(&mut buf).map_err(RegistryError::from_io)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            total += n as u64;
        }
        layers.push(json!({
            "digest": layer.digest,
            "size": layer.size,
            "media_type": layer.media_type,
            "read_bytes": total,
            "read_sha256": format!("sha256:{}", hex(&hasher.finalize())),
        }));
    }
    Ok(json!({
        "reference": reference.to_string(),
        "local_name": reference.local_name(),
        "manifest_digest": resolved.manifest_digest,
        "image_id": resolved.image_id(),
        "config": {
            "digest": resolved.config_descriptor.digest,
            "size": resolved.config_descriptor.size,
            "read_bytes": resolved.config.len(),
            "read_sha256": format!("sha256:{}", hex(&Sha256::digest(&resolved.config))),
        },
        "layers": layers,
    }))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("registry_probe: {e}");
            return ExitCode::from(2);
        }
    };
    if args.debug {
        log::set_debug(true);
        log::set_sink(Some(log::stderr_sink()));
    }
    match run(&args) {
        Ok(value) => {
            println!("{value}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("registry_probe: ERROR: {e}");
            ExitCode::from(1)
        }
    }
}
