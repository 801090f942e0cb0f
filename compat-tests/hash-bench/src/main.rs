//! Times md-5 0.11, md-5 0.10 and sha2 0.11 over one in-memory buffer and
//! prints one line per implementation: `name<TAB>MB/s<TAB>digest`, for
//! compat-tests/bench-hash to tabulate. The digest of each is printed so
//! that the script can check that all md5s (and all sha256s) agree.
//!
//! Usage: `hash-bench [MIB] [ROUNDS]` (defaults: a 64 MiB buffer, one Keep
//! block, best of 9 rounds), or `hash-bench --dump [MIB]` to write the
//! buffer to stdout for the command-line tools. The names say which code
//! this build runs.

#![forbid(unsafe_code)]

use std::io::Write;
use std::time::Instant;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes of a xorshift stream: incompressible, the same on every run.
fn buffer(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

/// One implementation: hashes a buffer, returns the digest.
type Hash = fn(&[u8]) -> Vec<u8>;

fn md5_011(data: &[u8]) -> Vec<u8> {
    use md5_011::{Digest, Md5};
    let mut h = Md5::new();
    for block in data.chunks(64 << 20) {
        h.update(block);
    }
    h.finalize().to_vec()
}

fn md5_010(data: &[u8]) -> Vec<u8> {
    use md5_010::{Digest, Md5};
    let mut h = Md5::new();
    for block in data.chunks(64 << 20) {
        h.update(block);
    }
    h.finalize().to_vec()
}

fn sha256(data: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for block in data.chunks(64 << 20) {
        h.update(block);
    }
    h.finalize().to_vec()
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--dump") {
        let mib: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(64);
        std::io::stdout()
            .write_all(&buffer(mib << 20))
            .expect("write to stdout");
        return;
    }
    args.truncate(2);
    let args: Vec<u64> = args
        .iter()
        .map(|a| a.parse().expect("usage: hash-bench [MIB] [ROUNDS]"))
        .collect();
    let mib = args.first().copied().unwrap_or(64) as usize;
    let rounds = args.get(1).copied().unwrap_or(9);
    let data = buffer(mib << 20);
    let md5_010_backend = if cfg!(feature = "asm") { "asm" } else { "soft" };
    let sha_backend = if cfg!(sha2_backend = "soft") {
        "soft"
    } else {
        "SHA-NI if the CPU has it"
    };
    let rows: [(String, Hash); 3] = [
        ("md5 md-5 0.11 (soft)".to_string(), md5_011),
        (format!("md5 md-5 0.10 ({md5_010_backend})"), md5_010),
        (format!("sha256 sha2 0.11 ({sha_backend})"), sha256),
    ];
    // Round-robin, best of `rounds` each: on a shared machine the best
    // round is the one least disturbed, and a drift of the machine's load
    // touches every implementation alike.
    let mut best = [f64::MAX; 3];
    let mut digests = [String::new(), String::new(), String::new()];
    for _ in 0..rounds {
        for (i, (_, hash)) in rows.iter().enumerate() {
            let t = Instant::now();
            digests[i] = hex(&hash(&data));
            best[i] = best[i].min(t.elapsed().as_secs_f64());
        }
    }
    for (i, (name, _)) in rows.iter().enumerate() {
        let speed = data.len() as f64 / best[i] / 1e6;
        println!("{name}\t{speed:.0}\t{}", digests[i]);
    }
}
