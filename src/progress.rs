//! Upload progress on stderr: a line a person can read, or arv-put's
//! machine format for scripts.
//!
//! Human (`--progress`, or stderr a terminal): one line redrawn in place at
//! most four times a second,
//!
//! ```text
//! 1.21 GiB / 3.50 GiB  34.6%  48.2 MiB/s  48s left  reused 512.0 MiB
//! ```
//!
//! with the total when one is known (a file's size; Docker's image size,
//! an estimate shown as `~3.50 GiB` and never past 100%), a smoothed rate,
//! the time left, and the bytes a resumed upload did not send again. With
//! no total (standard input) it shows what was read and the rate. A narrow
//! terminal gets fewer fields, never a wrapped line. A log line first
//! blanks the progress line (see [`crate::log`]), so the two never mix.
//!
//! Machine (`--batch-progress`, spec §9.4): `<argv0> <pid>: <written>
//! written <expected> total` lines at the start, every 60 s and at the
//! end, as legacy; the total is `-1` unless it is exact. "Written" counts
//! bytes read from the source, as legacy did.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::log;
use crate::request::Progress;

/// Human progress redraws at most this often.
const HUMAN_STEP: Duration = Duration::from_millis(250);
/// Machine progress lines come this often (legacy's checkpoint interval).
const MACHINE_STEP: Duration = Duration::from_secs(60);
/// Weight of the newest sample in the smoothed rate.
const SMOOTHING: f64 = 0.3;
/// Terminal width when it cannot be found.
const DEFAULT_WIDTH: usize = 80;

/// How much a stream holds, as far as is known before it is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Total {
    /// Exactly this many bytes (a file).
    Exact(u64),
    /// About this many (Docker's image size: the archive adds tar headers).
    Estimate(u64),
    /// Not known (standard input).
    Unknown,
}

impl Total {
    /// The total arv-put's machine format may print: exact ones only.
    fn exact(self) -> Option<u64> {
        match self {
            Total::Exact(n) => Some(n),
            _ => None,
        }
    }
}

/// The machine format (legacy `machine_progress`); an unknown size is -1.
pub fn machine(argv0: &str, pid: u32, written: u64, expected: Option<u64>) -> String {
    let expected = expected.map_or("-1".to_string(), |e| e.to_string());
    format!("{argv0} {pid}: {written} written {expected} total\n")
}

/// `512.0 MiB`, `3.50 GiB`: MiB below one GiB, GiB from there.
pub fn size(bytes: u64) -> String {
    const MIB: f64 = (1u64 << 20) as f64;
    const GIB: f64 = (1u64 << 30) as f64;
    let b = bytes as f64;
    if bytes < 1 << 30 {
        format!("{:.1} MiB", b / MIB)
    } else {
        format!("{:.2} GiB", b / GIB)
    }
}

/// `45s`, `3:07`, `1:02:03`.
pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}:{:02}", s / 60, s % 60),
        _ => format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60),
    }
}

/// One state of the human line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Snapshot {
    pub done: u64,
    pub total: Total,
    /// Bytes per second, once there is a rate to show.
    pub rate: Option<f64>,
    /// Bytes not sent again (resume).
    pub reused: u64,
    /// The last redraw of a finished upload: an estimate gives way to
    /// what was read.
    pub finished: bool,
}

/// The human line for `snapshot`, at most `width - 1` columns (the last
/// column is left free: some terminals wrap when it is written).
pub fn human(snapshot: &Snapshot, width: usize) -> String {
    let Snapshot {
        done,
        total,
        rate,
        reused,
        finished,
    } = *snapshot;
    let mut fields = Vec::new();
    let known = match total {
        Total::Exact(t) => Some((t, "")),
        // Once the whole archive is read, what was read is the size.
        Total::Estimate(_) if finished => Some((done, "")),
        Total::Estimate(t) => Some((t, "~")),
        Total::Unknown => None,
    };
    match known {
        Some((t, mark)) if t > 0 => {
            // An estimate may be passed: the percentage stops at 100.
            let fraction = (done as f64 / t as f64).min(1.0);
            fields.push(format!(
                "{} / {mark}{}  {:.1}%",
                size(done),
                size(t),
                fraction * 100.0
            ));
            fields.push(rate.map_or("-- MiB/s".into(), |r| format!("{}/s", size(r as u64))));
            let left = match rate {
                _ if finished => None,
                Some(r) if r > 0.0 => {
                    Some(Duration::from_secs_f64(t.saturating_sub(done) as f64 / r))
                }
                _ => None,
            };
            if let Some(left) = left {
                fields.push(format!("{} left", duration(left)));
            }
        }
        _ => {
            fields.push(size(done));
            fields.push(rate.map_or("-- MiB/s".into(), |r| format!("{}/s", size(r as u64))));
        }
    }
    if reused > 0 {
        fields.push(format!("reused {}", size(reused)));
    }
    // Drop fields from the end until the line fits.
    let limit = width.saturating_sub(1).max(1);
    while fields.len() > 1 && fields.join("  ").chars().count() > limit {
        fields.pop();
    }
    let line = fields.join("  ");
    line.chars().take(limit).collect()
}

/// The rate, smoothed so that one slow read does not swing it.
#[derive(Clone, Copy, Debug, Default)]
struct Rate {
    smoothed: Option<f64>,
    last: Option<(Instant, u64)>,
}

impl Rate {
    fn sample(&mut self, now: Instant, done: u64) {
        match self.last {
            None => self.last = Some((now, done)),
            Some((then, before)) => {
                let secs = now.duration_since(then).as_secs_f64();
                if secs < 0.2 {
                    return;
                }
                let current = done.saturating_sub(before) as f64 / secs;
                self.smoothed = Some(match self.smoothed {
                    None => current,
                    Some(s) => SMOOTHING * current + (1.0 - SMOOTHING) * s,
                });
                self.last = Some((now, done));
            }
        }
    }
}

/// Reports the progress of one upload.
pub struct Reporter {
    mode: Progress,
    argv0: String,
    pid: u32,
    total: Total,
    width: usize,
    started: Instant,
    last: Option<Instant>,
    rate: Rate,
    written: u64,
    reused: u64,
}

impl Reporter {
    /// A reporter for a stream of `total` bytes.
    pub fn new(mode: Progress, total: Total) -> Reporter {
        let argv0 = std::env::args_os()
            .next()
            .map(|a| a.to_string_lossy().into_owned())
            .unwrap_or_default();
        let width = if mode == Progress::Human {
            terminal_width()
        } else {
            DEFAULT_WIDTH
        };
        Reporter {
            mode,
            argv0,
            pid: std::process::id(),
            total,
            width,
            started: Instant::now(),
            last: None,
            rate: Rate::default(),
            written: 0,
            reused: 0,
        }
    }

    /// Bytes read so far, and of those the bytes not sent again; writes a
    /// report when one is due.
    pub fn update(&mut self, written: u64, reused: u64) {
        self.written = written;
        self.reused = reused;
        let step = match self.mode {
            Progress::Off => return,
            Progress::Human => HUMAN_STEP,
            Progress::Machine => MACHINE_STEP,
        };
        let now = Instant::now();
        if self.last.is_some_and(|t| now.duration_since(t) < step) {
            return;
        }
        self.last = Some(now);
        self.rate.sample(now, written);
        self.write(false);
    }

    /// The final report (`complete`: the whole stream was read); the
    /// human line then ends with a newline.
    pub fn finish(&mut self, complete: bool) {
        match self.mode {
            Progress::Off => {}
            Progress::Machine => self.write(complete),
            Progress::Human => {
                self.rate.sample(Instant::now(), self.written);
                self.write(complete);
                log::end_progress_line();
            }
        }
    }

    fn write(&self, finished: bool) {
        match self.mode {
            Progress::Off => {}
            Progress::Human => {
                let elapsed = self.started.elapsed().as_secs_f64();
                // The whole run's average until there is a smoothed rate.
                let rate = self.rate.smoothed.or_else(|| {
                    (elapsed >= 1.0 || finished && elapsed > 0.0)
                        .then(|| self.written as f64 / elapsed)
                });
                let snapshot = Snapshot {
                    done: self.written,
                    total: self.total,
                    rate,
                    reused: self.reused,
                    finished,
                };
                log::write_progress_line(&human(&snapshot, self.width));
            }
            Progress::Machine => log::write_stderr(&machine(
                &self.argv0,
                self.pid,
                self.written,
                self.total.exact(),
            )),
        }
    }
}

/// The closing INFO line of an upload: bytes sent, bytes reused, time and
/// average rate.
pub fn summary(sent: u64, reused: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        format!("{}/s", size((sent as f64 / secs) as u64))
    } else {
        "-".to_string()
    };
    format!(
        "Uploaded {} (reused {}) in {:.1} s, {rate} on average",
        size(sent),
        size(reused),
        secs
    )
}

/// Columns of the terminal on stderr: `COLUMNS`, else what `stty size`
/// reads from it, else 80.
fn terminal_width() -> usize {
    if let Some(n) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
    {
        return n;
    }
    stty_columns().unwrap_or(DEFAULT_WIDTH)
}

/// `stty size` with stderr as its input: "ROWS COLUMNS".
fn stty_columns() -> Option<usize> {
    use std::os::fd::AsFd;
    let tty = std::io::stderr().as_fd().try_clone_to_owned().ok()?;
    let out = Command::new("stty")
        .arg("size")
        .stdin(Stdio::from(tty))
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    text.split_whitespace()
        .nth(1)?
        .parse()
        .ok()
        .filter(|&n| n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;

    fn snap(done: u64, total: Total, rate: Option<f64>) -> Snapshot {
        Snapshot {
            done,
            total,
            rate,
            reused: 0,
            finished: false,
        }
    }

    #[test]
    fn machine_format_matches_legacy() {
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
        assert_eq!(Total::Estimate(5).exact(), None);
        assert_eq!(Total::Exact(5).exact(), Some(5));
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(size(0), "0.0 MiB");
        assert_eq!(size(150 * MIB), "150.0 MiB");
        assert_eq!(size(GIB - 1), "1024.0 MiB");
        assert_eq!(size(3 * GIB + GIB / 2), "3.50 GiB");
        assert_eq!(duration(Duration::from_secs(45)), "45s");
        assert_eq!(duration(Duration::from_secs(187)), "3:07");
        assert_eq!(duration(Duration::from_secs(3723)), "1:02:03");
    }

    #[test]
    fn a_known_total_gives_percentage_rate_and_time_left() {
        let line = human(
            &snap(150 * MIB, Total::Exact(300 * MIB), Some(50.0 * MIB as f64)),
            120,
        );
        assert_eq!(line, "150.0 MiB / 300.0 MiB  50.0%  50.0 MiB/s  3s left");
        let line = human(
            &snap(GIB, Total::Exact(4 * GIB), Some(64.0 * MIB as f64)),
            120,
        );
        assert_eq!(line, "1.00 GiB / 4.00 GiB  25.0%  64.0 MiB/s  48s left");
        // No rate yet: no time left either.
        let line = human(&snap(0, Total::Exact(GIB), None), 120);
        assert_eq!(line, "0.0 MiB / 1.00 GiB  0.0%  -- MiB/s");
    }

    #[test]
    fn an_estimate_is_marked_and_never_passes_100_percent() {
        let est = Total::Estimate(300 * MIB);
        let line = human(&snap(150 * MIB, est, Some(MIB as f64)), 120);
        assert!(line.starts_with("150.0 MiB / ~300.0 MiB  50.0%"), "{line}");
        let over = human(&snap(310 * MIB, est, Some(MIB as f64)), 120);
        assert!(over.contains(" 100.0% "), "{over}");
        assert!(over.contains("0s left"), "{over}");
        let mut done = snap(310 * MIB, est, Some(MIB as f64));
        done.finished = true;
        let last = human(&done, 120);
        assert_eq!(last, "310.0 MiB / 310.0 MiB  100.0%  1.0 MiB/s");
    }

    #[test]
    fn no_total_shows_what_was_read_and_the_rate() {
        let line = human(&snap(5 * GIB, Total::Unknown, Some(20.0 * MIB as f64)), 120);
        assert_eq!(line, "5.00 GiB  20.0 MiB/s");
        assert_eq!(
            human(&snap(5, Total::Exact(0), None), 120),
            "0.0 MiB  -- MiB/s"
        );
    }

    #[test]
    fn reused_bytes_are_shown_apart() {
        let mut s = snap(GIB, Total::Exact(2 * GIB), Some(100.0 * MIB as f64));
        s.reused = 512 * MIB;
        assert_eq!(
            human(&s, 120),
            "1.00 GiB / 2.00 GiB  50.0%  100.0 MiB/s  10s left  reused 512.0 MiB"
        );
    }

    #[test]
    fn a_narrow_terminal_gets_fewer_fields_never_a_longer_line() {
        let mut s = snap(GIB, Total::Estimate(2 * GIB), Some(100.0 * MIB as f64));
        s.reused = 512 * MIB;
        let full = human(&s, 200);
        for width in 1..=full.len() + 2 {
            let line = human(&s, width);
            assert!(line.chars().count() < width.max(2), "{width}: {line:?}");
            assert!(full.starts_with(&line), "{width}: {line:?}");
        }
        assert_eq!(human(&s, 41), "1.00 GiB / ~2.00 GiB  50.0%  100.0 MiB/s");
        assert_eq!(human(&s, 30), "1.00 GiB / ~2.00 GiB  50.0%");
    }

    #[test]
    fn the_rate_is_smoothed() {
        let t0 = Instant::now();
        let mut rate = Rate::default();
        rate.sample(t0, 0);
        assert_eq!(rate.smoothed, None);
        rate.sample(t0 + Duration::from_secs(1), 100 * MIB);
        assert_eq!(rate.smoothed, Some(100.0 * MIB as f64));
        // One stalled second moves it by the smoothing weight only.
        rate.sample(t0 + Duration::from_secs(2), 100 * MIB);
        assert_eq!(rate.smoothed, Some(70.0 * MIB as f64));
        // Samples closer than 0.2 s are ignored.
        rate.sample(t0 + Duration::from_millis(2100), 900 * MIB);
        assert_eq!(rate.smoothed, Some(70.0 * MIB as f64));
    }

    #[test]
    fn the_summary_line() {
        assert_eq!(
            summary(300 * MIB, 0, Duration::from_secs(6)),
            "Uploaded 300.0 MiB (reused 0.0 MiB) in 6.0 s, 50.0 MiB/s on average"
        );
        assert_eq!(
            summary(GIB, 2 * GIB, Duration::from_millis(12_500)),
            "Uploaded 1.00 GiB (reused 2.00 GiB) in 12.5 s, 81.9 MiB/s on average"
        );
    }
}
