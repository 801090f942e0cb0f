//! What the Rust integration targets share: a simulated cluster of their
//! own (`compat-tests/sim-cluster`), started per test and stopped on drop.

#![allow(dead_code)] // each target uses its own part

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arv_keepdocker::internal::arvados::new_agent;
use arv_keepdocker::internal::arvados::ApiClient;
use arv_keepdocker::internal::settings::ClientConfig;
use serde_json::Value;

pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A running simulated cluster (a Python process on 127.0.0.1, watching
/// this process's pid so that it never outlives the test run).
pub struct Sim {
    child: Child,
    pub info: Value,
    _dir: tempfile::TempDir,
}

impl Sim {
    pub fn start(args: &[&str]) -> Sim {
        let dir = tempfile::tempdir().unwrap();
        let info_file = dir.path().join("info.json");
        let child = Command::new("python3")
            .arg(Path::new(ROOT).join("compat-tests/sim-cluster"))
            .arg("--info-file")
            .arg(&info_file)
            .arg("--watch-pid")
            .arg(std::process::id().to_string())
            .arg("--quiet")
            .args(args)
            .stdin(Stdio::null())
            .spawn()
            .expect("python3 compat-tests/sim-cluster");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !info_file.exists() {
            assert!(Instant::now() < deadline, "sim-cluster did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let info = serde_json::from_slice(&std::fs::read(&info_file).unwrap()).unwrap();
        Sim {
            child,
            info,
            _dir: dir,
        }
    }

    pub fn ca(&self) -> PathBuf {
        PathBuf::from(self.info["ca_cert"].as_str().unwrap())
    }

    pub fn host(&self) -> String {
        self.info["api_host"].as_str().unwrap().to_string()
    }

    /// The token of user `n` (0: alice, 1: bob).
    pub fn token_of(&self, n: usize) -> String {
        self.info["users"][n]["token"].as_str().unwrap().to_string()
    }

    pub fn config_of(&self, user: usize) -> ClientConfig {
        ClientConfig {
            api_host: self.host(),
            api_token: self.token_of(user),
            insecure: false,
            keep_services: None,
            ca_file: Some(self.ca()),
        }
    }

    pub fn api_of(&self, user: usize, retries: u32) -> ApiClient {
        ApiClient::new(&self.config_of(user), retries).unwrap()
    }

    /// A request to the `/_sim/` control API.
    pub fn control(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let agent = new_agent(&self.config_of(0)).unwrap();
        let url = format!("{}{path}", self.info["control_url"].as_str().unwrap());
        let response = match (method, body) {
            ("GET", _) => agent.get(&url).call(),
            (_, Some(b)) => agent
                .post(&url)
                .header("Content-Type", "application/json")
                .send(b.to_string().as_bytes()),
            (_, None) => agent.post(&url).send_empty(),
        }
        .unwrap();
        let body = response.into_body().read_to_string().unwrap();
        serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("/_sim/{path} did not answer JSON ({e}): {body:?}"))
    }

    pub fn faults(&self, spec: Value) {
        self.control("POST", "faults", Some(spec));
    }

    /// The request log: a JSON list of entries, each with the fields the
    /// checks read. Anything else fails the test: a negative check on a log
    /// that could not be read would pass having checked nothing.
    pub fn log(&self) -> Vec<Value> {
        let log = self.control("GET", "log", None);
        let Value::Array(entries) = log else {
            panic!("/_sim/log is not a JSON list of entries: {log}");
        };
        for entry in &entries {
            for field in ["server", "method", "http_method", "path", "status"] {
                assert!(
                    entry.get(field).is_some_and(|v| !v.is_null()),
                    "/_sim/log entry without `{field}`: {entry}"
                );
            }
        }
        entries
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// A generated image archive (fixtures/gen-archive): its bytes and its
/// description (image_id, repo_tags...).
pub fn generated_archive(tag: &str, seed: &str, layers: u32) -> (Vec<u8>, Value) {
    let run = |describe: bool| {
        let mut cmd = Command::new("python3");
        cmd.arg(Path::new(ROOT).join("fixtures/gen-archive"))
            .args(["--repo-tag", tag, "--seed", seed])
            .args(["--layers", &layers.to_string(), "--layer-size", "100000"]);
        if describe {
            cmd.arg("--describe");
        }
        let out = cmd.output().expect("python3 fixtures/gen-archive");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let description = serde_json::from_slice(&run(true)).unwrap();
    (run(false), description)
}
