//! Upload progress on stderr, in the two legacy formats (spec §9.4).
//!
//! Human: `\r{MiB}M / {MiB}M {pct:.1%} ` (or `\r{bytes} ` when the size is
//! not known in advance, as for standard input), redrawn at most a few
//! times a second, with a newline at the end. Machine:
//! `<argv0> <pid>: <written> written <expected> total` lines at the start,
//! every 60 s and at the end, as legacy. "Written" counts bytes read from
//! the source, as legacy did. Everything goes through [`crate::log::write_stderr`].

use std::time::{Duration, Instant};

use crate::log::write_stderr;
use crate::request::Progress;

/// Human progress redraws at most this often.
const HUMAN_STEP: Duration = Duration::from_millis(250);
/// Machine progress lines come this often (legacy's checkpoint interval).
const MACHINE_STEP: Duration = Duration::from_secs(60);

/// The human format (legacy `human_progress`).
pub fn human(written: u64, expected: Option<u64>) -> String {
    match expected {
        Some(total) if total > 0 => format!(
            "\r{}M / {}M {:.1}% ",
            written >> 20,
            total >> 20,
            written as f64 / total as f64 * 100.0
        ),
        _ => format!("\r{written} "),
    }
}

/// The machine format (legacy `machine_progress`); an unknown size is -1.
pub fn machine(argv0: &str, pid: u32, written: u64, expected: Option<u64>) -> String {
    let expected = expected.map_or("-1".to_string(), |e| e.to_string());
    format!("{argv0} {pid}: {written} written {expected} total\n")
}

/// Reports the progress of one upload.
pub struct Reporter {
    mode: Progress,
    argv0: String,
    pid: u32,
    expected: Option<u64>,
    last: Option<Instant>,
    written: u64,
}

impl Reporter {
    /// A reporter for a stream of `expected` bytes, if known.
    pub fn new(mode: Progress, expected: Option<u64>) -> Reporter {
        let argv0 = std::env::args_os()
            .next()
            .map(|a| a.to_string_lossy().into_owned())
            .unwrap_or_default();
        Reporter {
            mode,
            argv0,
            pid: std::process::id(),
            expected,
            last: None,
            written: 0,
        }
    }

    /// Bytes read so far; writes a report when one is due.
    pub fn update(&mut self, written: u64) {
        self.written = written;
        let step = match self.mode {
            Progress::Off => return,
            Progress::Human => HUMAN_STEP,
            Progress::Machine => MACHINE_STEP,
        };
        if self.last.is_some_and(|t| t.elapsed() < step) {
            return;
        }
        self.last = Some(Instant::now());
        self.write();
    }

    /// The final report (human progress then ends its line).
    pub fn finish(&mut self) {
        match self.mode {
            Progress::Off => {}
            Progress::Machine => self.write(),
            Progress::Human => {
                self.write();
                write_stderr("\n");
            }
        }
    }

    fn write(&self) {
        let text = match self.mode {
            Progress::Off => return,
            Progress::Human => human(self.written, self.expected),
            Progress::Machine => machine(&self.argv0, self.pid, self.written, self.expected),
        };
        write_stderr(&text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_legacy() {
        assert_eq!(
            human(216_006_656, Some(216_006_656)),
            "\r206M / 206M 100.0% "
        );
        assert_eq!(human(0, Some(1 << 30)), "\r0M / 1024M 0.0% ");
        assert_eq!(human(1 << 29, Some(3 << 29)), "\r512M / 1536M 33.3% ");
        assert_eq!(human(12345, None), "\r12345 ");
        assert_eq!(human(5, Some(0)), "\r5 ");
        assert_eq!(
            machine(
                "/usr/bin/arv-keepdocker",
                769,
                216_006_656,
                Some(216_006_656)
            ),
            "/usr/bin/arv-keepdocker 769: 216006656 written 216006656 total\n"
        );
        assert_eq!(machine("x", 1, 7, None), "x 1: 7 written -1 total\n");
    }
}
