//! A small mutation-fuzzing harness for the crate's own tests (test builds
//! only).
//!
//! The targets (the archive reader in `docker::archive::fuzz`, the command
//! line in `cli::fuzz`) generate inputs from a seeded pseudo-random source and
//! check properties that must hold for every input: no panic, a clean
//! error or a result, the same verdict however the input is cut. A
//! hand-written generator, not a coverage-guided fuzzer: the inputs start
//! from valid archives and argument vectors and are mutated where parsers
//! branch (header fields, checksums, extension headers, JSON, option
//! prefixes), which blind byte mutation rarely reaches.
//!
//! Under `cargo test` each target runs a fixed number of cases from fixed
//! seeds, so CI is deterministic and takes seconds. `compat-tests/fuzz`
//! sets `KD_FUZZ_SECONDS` to run each target for a duration instead, from a
//! random base seed (`KD_FUZZ_SEED` replays one). A failing case prints its
//! seed and writes its input under `target/fuzz-crashes/`, so it can be
//! replayed and turned into a regression test.

use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// xorshift64*: small, fast and good enough to pick mutations.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        // splitmix64 of the seed, so that nearby seeds diverge at once.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability 1/n.
    pub(crate) fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A number in `0..n`, small ones much more likely (lengths, counts).
    pub(crate) fn small(&mut self, n: usize) -> usize {
        let bits = self.below(usize::BITS as usize - n.leading_zeros() as usize + 1);
        self.below((1usize << bits).min(n).max(1))
    }
}

/// How long a target runs.
enum Budget {
    Cases(u64),
    Time(Duration),
}

/// Runs `check` on inputs made by `generate` from consecutive seeds until the
/// budget is spent; returns the number of cases run. A panicking case is
/// reported with its seed and input, then the test fails.
///
/// `encode` turns an input into the bytes saved for replay (the archive
/// itself, or the argument vector as Rust debug text).
pub(crate) fn run<T>(
    target: &str,
    ci_cases: u64,
    mut generate: impl FnMut(&mut Rng) -> T,
    check: impl Fn(&T),
    encode: impl Fn(&T) -> Vec<u8>,
) -> u64 {
    let budget = match std::env::var("KD_FUZZ_SECONDS") {
        Ok(secs) => Budget::Time(Duration::from_secs(
            secs.parse()
                .expect("KD_FUZZ_SECONDS is a number of seconds"),
        )),
        Err(_) => Budget::Cases(ci_cases),
    };
    let base = match (std::env::var("KD_FUZZ_SEED"), &budget) {
        (Ok(seed), _) => seed.parse().expect("KD_FUZZ_SEED is a number"),
        // Long runs explore new ground each time; CI runs are repeatable.
        (Err(_), Budget::Time(_)) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
        (Err(_), Budget::Cases(_)) => 0,
    };
    let started = Instant::now();
    let mut cases = 0u64;
    loop {
        match budget {
            Budget::Cases(n) if cases >= n => break,
            Budget::Time(d) if started.elapsed() >= d => break,
            _ => {}
        }
        let seed = base.wrapping_add(cases);
        let input = generate(&mut Rng::new(seed));
        if panic::catch_unwind(AssertUnwindSafe(|| check(&input))).is_err() {
            let bytes = encode(&input);
            let path = save_crash(target, seed, &bytes);
            panic!(
                "fuzz target {target}: case {cases} (KD_FUZZ_SEED={seed}) failed; \
                 its {} input bytes are saved as {}",
                bytes.len(),
                path.display()
            );
        }
        cases += 1;
    }
    eprintln!(
        "fuzz target {target}: {cases} cases in {:.1} s, base seed {base}, no failures",
        started.elapsed().as_secs_f64()
    );
    cases
}

fn save_crash(target: &str, seed: u64, bytes: &[u8]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-crashes");
    let path = dir.join(format!("{target}-{seed}.bin"));
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(&path, bytes);
    path
}
