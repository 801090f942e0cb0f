//! The Arvados client and the Keep upload engine against the simulated
//! cluster (`compat-tests/sim-cluster`), side by side with the legacy
//! `arv-put` where it is installed.
//!
//! Each test starts its own cluster (a Python process on 127.0.0.1, watched
//! by this process's pid so it never outlives the test run) and talks to it
//! over real HTTPS, verifying the cluster's own CA through `ca_file`, as a
//! site CA given in `SSL_CERT_FILE` would be.
//!
//! The legacy tool is looked for in `$ARV_LEGACY_BIN`, then
//! `target/legacy-venv/bin` (made by `compat-tests/run-tests`). Without it
//! (outside CI only), manifests are still checked against
//! an independent computation of what arv-put writes.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arv_keepdocker::internal::arvados::Clock;
use arv_keepdocker::internal::arvados::KeepClient;
use arv_keepdocker::internal::arvados::{md5_hex, portable_data_hash, BLOCK_SIZE};
use arv_keepdocker::internal::arvados::{ApiClient, KeysetLister, Link};
use arv_keepdocker::internal::arvados::{Event, Uploaded};
use arv_keepdocker::internal::Error;
use serde_json::{json, Value};

use common::{Sim, ROOT};

/// The API client of the first user, whose retry sleeps take no time.
fn fast_api(sim: &Sim, retries: u32) -> ApiClient {
    sim.api_of(0, retries)
        .with_clock(Arc::new(FastClock::default()))
}

/// A clock whose sleeps advance virtual time at once, recording them.
#[derive(Default)]
struct FastClock {
    state: Mutex<(Duration, Vec<Duration>)>,
}

impl Clock for FastClock {
    fn now(&self) -> Instant {
        Instant::now() + self.state.lock().unwrap().0
    }
    fn sleep(&self, d: Duration) {
        let mut s = self.state.lock().unwrap();
        s.0 += d;
        s.1.push(d);
    }
}

/// Deterministic, incompressible-looking bytes.
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// What arv-put writes for these bytes, computed here independently of the
/// manifest module: md5 per 64 MiB block, octal escapes.
fn expected_manifest(bytes: &[u8], name: &str) -> String {
    let mut locs: Vec<String> = bytes
        .chunks(BLOCK_SIZE)
        .map(|c| format!("{}+{}", md5_hex(c), c.len()))
        .collect();
    if locs.is_empty() {
        locs.push("d41d8cd98f00b204e9800998ecf8427e+0".into());
    }
    let escaped: String = name
        .chars()
        .map(|c| {
            if c == '\\' || c == ':' || (c as u32) <= 32 {
                format!("\\{:03o}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect();
    format!(". {} 0:{}:{}\n", locs.join(" "), bytes.len(), escaped)
}

fn legacy_bin() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("ARV_LEGACY_BIN").map(PathBuf::from),
        Some(Path::new(ROOT).join("target/legacy-venv/bin")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|d| d.join("arv-put").exists())
}

/// The PDH legacy arv-put gives the same file and name on this cluster.
fn legacy_pdh(sim: &Sim, bin: &Path, file: &Path, name: &str) -> String {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(bin.join("arv-put"))
        .args([
            "--no-cache",
            "--no-progress",
            "--portable-data-hash",
            "--filename",
            name,
        ])
        .arg(file)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("ARVADOS_API_HOST", sim.host())
        .env("ARVADOS_API_TOKEN", sim.token_of(0))
        .env("SSL_CERT_FILE", sim.ca())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "arv-put failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn upload(keep: &KeepClient, bytes: &[u8]) -> (Uploaded, Vec<Event>) {
    let mut events = Vec::new();
    let up = keep
        .upload(bytes, "test bytes", None, &mut |e| events.push(e))
        .unwrap();
    (up, events)
}

fn keep_for(sim: &Sim, api: &ApiClient) -> KeepClient {
    let discovery = api.discovery().unwrap();
    KeepClient::for_cluster(api, &sim.config_of(0), &discovery)
        .unwrap()
        .clock(Arc::new(FastClock::default()))
}

#[test]
fn manifests_and_pdh_match_legacy_arv_put() {
    let sim = Sim::start(&[]);
    let api = fast_api(&sim, 3);
    let keep = keep_for(&sim, &api);
    let legacy = legacy_bin();
    if legacy.is_none() {
        // CI (and compat-tests/run-tests, which sets ARV_LEGACY_BIN) must
        // compare with the real arv-put: never skip it silently there.
        assert!(
            std::env::var_os("CI").is_none() && std::env::var_os("ARV_LEGACY_BIN").is_none(),
            "legacy arv-put not found (ARV_LEGACY_BIN, target/legacy-venv/bin)"
        );
        eprintln!("note: legacy arv-put not found; comparing with the reference computation only");
    }
    let name = "sha256:d2c94e258dcb3c5ac2798d32e1249e42ef01cba4841c2234249495f87264ac5a.tar";
    let dir = tempfile::tempdir().unwrap();
    for (i, size) in [0, 1, BLOCK_SIZE, BLOCK_SIZE + 1, 2 * BLOCK_SIZE + 1000]
        .into_iter()
        .enumerate()
    {
        let bytes = data(size, i as u64 + 1);
        let (up, events) = upload(&keep, &bytes);
        assert_eq!(up.size, size as u64);
        let manifest = up.manifest(name);
        let expected = expected_manifest(&bytes, name);
        assert_eq!(portable_data_hash(&manifest), portable_data_hash(&expected));
        assert!(
            events.contains(&Event::Progress(
                arv_keepdocker::internal::arvados::Progress {
                    bytes_read: size as u64,
                    bytes_stored: size as u64,
                    blocks_stored: up.locators.len() as u64,
                }
            )) || size == 0
        );

        // The server accepts the signed manifest and computes the same PDH.
        let coll = api
            .create_collection(
                &json!({"manifest_text": manifest, "name": format!("engine {size}")}),
            )
            .unwrap();
        assert_eq!(
            coll.portable_data_hash.as_deref(),
            Some(portable_data_hash(&expected).as_str()),
            "size {size}"
        );

        // Every block reads back, by the signed locator, from Keep.
        for (loc, chunk) in up.locators.iter().zip(bytes.chunks(BLOCK_SIZE)) {
            assert!(keep.get_block(loc).unwrap() == chunk, "block {loc}");
        }

        if let Some(bin) = &legacy {
            let file = dir.path().join(format!("f{size}"));
            std::fs::write(&file, &bytes).unwrap();
            assert_eq!(
                legacy_pdh(&sim, bin, &file, name),
                portable_data_hash(&manifest),
                "size {size}: legacy arv-put made a different collection"
            );
            std::fs::remove_file(&file).unwrap();
        }
    }
}

#[test]
fn keep_puts_carry_legacy_headers() {
    let sim = Sim::start(&[]);
    let api = fast_api(&sim, 3);
    let keep = keep_for(&sim, &api).request_id("req-0123456789abcdefghij");
    upload(&keep, b"hello\n");
    let puts: Vec<Value> = sim
        .log()
        .into_iter()
        .filter(|e| e["http_method"] == "PUT" && e["server"] != "api")
        .collect();
    assert_eq!(puts.len(), 2, "{puts:?}");
    for put in &puts {
        assert_eq!(put["path"], "/b1946ac92492d2347c6235b4d2611184");
        assert_eq!(put["request_id"], "req-0123456789abcdefghij");
        assert_eq!(put["headers"]["X-Keep-Desired-Replicas"], "2");
        assert_eq!(put["headers"]["X-Keep-Storage-Classes"], "default");
    }
}

#[test]
fn keep_failures_within_the_retry_budget_are_survived() {
    let sim = Sim::start(&[]);
    let api = fast_api(&sim, 3);
    let clock = Arc::new(FastClock::default());
    let keep = keep_for(&sim, &api).clock(clock.clone());
    sim.faults(json!({"keep_put_fail": {"count": 2, "status": 503, "server": "keep0"}}));
    let bytes = data(1000, 9);
    let started = Instant::now();
    let (up, _) = upload(&keep, &bytes);
    let took = started.elapsed();
    assert_eq!(
        portable_data_hash(&up.manifest("x")),
        portable_data_hash(&expected_manifest(&bytes, "x"))
    );
    // Two failed rounds for keep0: the next rounds start 4 s and 8 s
    // (virtual) after the failed ones started, so the waits are those less
    // the real time each round took, which is at most `took` (and no wait
    // at all after a round longer than its delay, on a very busy machine).
    let sleeps = clock.state.lock().unwrap().1.clone();
    let (four, eight) = (Duration::from_secs(4), Duration::from_secs(8));
    if took < four {
        assert_eq!(sleeps.len(), 2, "{sleeps:?} (upload took {took:?})");
        assert!(
            sleeps[0] <= four && sleeps[0] + took >= four,
            "{sleeps:?} (upload took {took:?})"
        );
        assert!(
            sleeps[1] <= eight && sleeps[1] + took >= eight,
            "{sleeps:?} (upload took {took:?})"
        );
    } else {
        assert!(
            sleeps.len() <= 2 && sleeps.iter().all(|s| *s <= eight),
            "{sleeps:?} (upload took {took:?})"
        );
    }
}

#[test]
fn keep_failures_past_the_retry_budget_fail_clearly() {
    let sim = Sim::start(&[]);
    let api = fast_api(&sim, 2);
    let keep = keep_for(&sim, &api);
    sim.faults(json!({"keep_put_fail": {"count": 1000, "status": 503, "server": "keep1"}}));
    let err = keep
        .upload(&b"hello\n"[..], "test bytes", None, &mut |_| {})
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::KeepWrite(_)), "{text}");
    assert!(
        text.contains("failed to write block b1946ac92492d2347c6235b4d2611184+6 after 3 attempts: wanted 2 copies in [default] but stored 1 copy"),
        "{text}"
    );
    assert!(
        text.contains("answered 503 Service Unavailable: simulated failure (keep1)"),
        "{text}"
    );

    // A permanent refusal is not retried.
    sim.faults(json!({"keep_put_fail": {"count": 1000, "status": 403}}));
    let err = keep.put_block(b"other").unwrap_err();
    assert!(err.to_string().contains("after 2 attempts"), "{err}");
}

#[test]
fn keep_proxy_gets_one_writer() {
    let sim = Sim::start(&["--keep-proxy"]);
    let api = fast_api(&sim, 3);
    let keep = keep_for(&sim, &api);
    let bytes = data(5000, 3);
    let (up, _) = upload(&keep, &bytes);
    assert_eq!(keep.get_block(&up.locators[0]).unwrap(), bytes);
    let to_proxy = sim
        .log()
        .into_iter()
        .filter(|e| e["http_method"] == "PUT" && e["server"] == "proxy")
        .count();
    assert_eq!(to_proxy, 1);
}

#[test]
fn keep_services_from_the_environment_are_proxies() {
    let sim = Sim::start(&[]);
    let roots: Vec<String> = sim.info["keep_services"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["type"] == "disk")
        .map(|s| s["url"].as_str().unwrap().to_string())
        .collect();
    let mut config = sim.config_of(0);
    config.keep_services = Some(roots);
    let api = ApiClient::new(&config, 3).unwrap();
    let discovery = api.discovery().unwrap();
    let keep = KeepClient::for_cluster(&api, &config, &discovery).unwrap();
    let (up, _) = upload(&keep, b"via env");
    assert_eq!(keep.get_block(&up.locators[0]).unwrap(), b"via env");
    // No keep_services/accessible call, no config call; the log does hold
    // this run's PUTs, so it was read.
    let log = sim.log();
    assert!(
        log.iter()
            .any(|e| e["http_method"] == "PUT" && e["server"] != "api"),
        "{log:?}"
    );
    assert!(!log.iter().any(|e| {
        let p = e["path"].as_str().expect("a log entry's path is a string");
        p.ends_with("keep_services/accessible") || p.ends_with("/arvados/v1/config")
    }));
}

#[test]
fn tls_is_checked_against_the_given_ca_and_not_retried_when_wrong() {
    let sim = Sim::start(&[]);
    assert!(fast_api(&sim, 0).discovery().is_ok());
    let mut config = sim.config_of(0);
    config.ca_file = None; // the built-in public roots do not know the sim's CA
    let clock = Arc::new(FastClock::default());
    let api = ApiClient::new(&config, 5)
        .unwrap()
        .with_clock(clock.clone());
    let err = api.discovery().unwrap_err();
    let text = err.to_string();
    assert!(text.contains("certificate"), "{text}");
    assert!(text.contains("SSL_CERT_FILE"), "{text}");
    assert!(clock.state.lock().unwrap().1.is_empty(), "retried: {text}");
    // Verification off with ARVADOS_API_HOST_INSECURE.
    config.insecure = true;
    assert!(ApiClient::new(&config, 0).unwrap().discovery().is_ok());
}

#[test]
fn api_errors_carry_the_server_words_and_faults_are_retried() {
    let sim = Sim::start(&[]);
    let api = fast_api(&sim, 3);
    let err = api
        .get_collection("zzzzz-4zz18-000000000000000")
        .unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("GET https://"), "{text}");
    assert!(text.contains("HTTP 404"), "{text}");
    assert!(!text.contains(&sim.token_of(0)), "{text}");

    sim.faults(json!({"api_fail": {"count": 2, "status": 502, "path_re": "users/current"}}));
    let me = api.current_user().unwrap();
    assert_eq!(me.uuid, "zzzzz-tpzed-000000000000001");
    let currents: Vec<Value> = sim
        .log()
        .into_iter()
        .filter(|e| e["path"] == "/arvados/v1/users/current")
        .collect();
    assert_eq!(currents.len(), 3);
    assert!(currents
        .iter()
        .all(|e| e["request_id"] == currents[0]["request_id"]));

    sim.faults(json!({"api_fail": {"count": 100, "status": 502, "path_re": "users/current"}}));
    let err = fast_api(&sim, 1).current_user().unwrap_err();
    assert!(err.to_string().contains("HTTP 502"), "{err}");
}

#[test]
fn listing_pages_like_legacy_and_long_filters_use_post() {
    let sim = Sim::start(&[]);
    let api = fast_api(&sim, 3);
    let up = upload(&keep_for(&sim, &api), b"x").0;
    let coll = api
        .create_collection(&json!({"manifest_text": up.manifest("x.tar"), "name": "c"}))
        .unwrap();
    for i in 0..3 {
        let _: Link = api
            .create_link(&json!({
                "link_class": "docker_image_hash",
                "name": format!("sha256:{i:064}"),
                "head_uuid": coll.uuid,
            }))
            .unwrap();
    }
    let filters = vec![json!(["link_class", "=", "docker_image_hash"])];
    let mut lister = KeysetLister::new("links", filters.clone(), None);
    let mut n = 0;
    while let Some(page) = lister.next_page(&api).unwrap() {
        n += page.len();
    }
    assert_eq!(n, 3);
    assert_eq!(lister.requests(), 2);
    let links: Vec<Link> = api.list_all("links", filters, None).unwrap();
    assert_eq!(links.len(), 3);

    // A filter too long for a URL: POST with X-HTTP-Method-Override.
    let mut uuids: Vec<String> = (0..300).map(|i| format!("zzzzz-4zz18-{i:015}")).collect();
    uuids.push(coll.uuid.clone());
    let found: Vec<Value> = api
        .list_all(
            "collections",
            vec![json!(["uuid", "in", uuids])],
            Some(vec!["uuid".into()]),
        )
        .unwrap();
    assert_eq!(found.len(), 1);
    assert!(sim.log().iter().any(|e| e["http_method"] == "POST"
        && e["method"] == "GET"
        && e["path"] == "/arvados/v1/collections"));
}
