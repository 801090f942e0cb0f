//! Log records, and the one lock every write to stderr takes, so that log
//! lines and progress never interleave.
//!
//! A record goes where the program says ([`set_sink`]): nowhere until it
//! says, so that a library call never writes to stderr by itself. The
//! command installs [`stderr_sink`], which writes the legacy format.
//!
//! Format (spec §9.3): `YYYY-MM-DD HH:MM:SS <logger>[<pid>] <LEVEL>: <message>`
//! in local time. The local offset is read from the TZif file the `TZ`
//! variable names (or `/etc/localtime`), without libc: the offset of the last
//! transition at or before now. A `TZ` that is a POSIX rule string with no
//! zoneinfo file of that name, or a time past the last transition of a
//! "slim" TZif file whose zone has daylight saving time, falls back to that
//! last transition (or UTC).

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// keepdocker's own logger (also the DEBUG lines of Docker calls).
pub const KEEPDOCKER: &str = "arvados.keepdocker";
/// The DEBUG lines of API requests.
pub const API: &str = "arvados.api";
/// The DEBUG lines of Keep block requests.
pub const KEEP: &str = "arvados.keep";
/// The logger of the upload stage (legacy arv-put).
pub const ARV_PUT: &str = "arvados.arv_put";

/// A log level, as Python's logging names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warning,
    Error,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warning => "WARNING",
            Level::Error => "ERROR",
        }
    }
}

static STDERR: Mutex<()> = Mutex::new(());
static REQUEST_ID: Mutex<Option<String>> = Mutex::new(None);
static SILENT: AtomicBool = AtomicBool::new(false);
static DEBUG: AtomicBool = AtomicBool::new(false);
/// The length of the progress line now on the screen (0: none), so that a
/// log line can blank it first.
static PROGRESS_SHOWN: AtomicUsize = AtomicUsize::new(0);

/// Writes text to stderr under the one stderr lock, first blanking a
/// progress line that is showing. Errors are ignored: a closed stderr must
/// not fail an upload.
pub fn write_stderr(text: &str) {
    let _guard = STDERR.lock().unwrap_or_else(|e| e.into_inner());
    let shown = PROGRESS_SHOWN.swap(0, Ordering::Relaxed);
    let mut err = std::io::stderr().lock();
    if shown > 0 {
        let _ = write!(err, "\r{:shown$}\r", "");
    }
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

/// Draws the progress line in place of the one showing (no newline), with
/// blanks over what a longer previous line left.
pub fn write_progress_line(line: &str) {
    let _guard = STDERR.lock().unwrap_or_else(|e| e.into_inner());
    let width = line.chars().count();
    let previous = PROGRESS_SHOWN.swap(width, Ordering::Relaxed);
    let pad = previous.saturating_sub(width);
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "\r{line}{:pad$}", "");
    let _ = err.flush();
}

/// Ends the progress line showing, if any, with a newline: it stays on
/// the screen above what comes next.
pub fn end_progress_line() {
    let _guard = STDERR.lock().unwrap_or_else(|e| e.into_inner());
    if PROGRESS_SHOWN.swap(0, Ordering::Relaxed) > 0 {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(b"\n");
        let _ = err.flush();
    }
}

/// `--silent`: INFO records of the upload stage are dropped (legacy sets
/// the arv-put logger to WARNING).
pub fn set_silent(silent: bool) {
    SILENT.store(silent, Ordering::Relaxed);
}

/// `ARVADOS_DEBUG`: turn DEBUG records on (they are dropped otherwise).
pub fn set_debug(on: bool) {
    DEBUG.store(on, Ordering::Relaxed);
}

/// Whether DEBUG records are written.
pub fn debug_enabled() -> bool {
    DEBUG.load(Ordering::Relaxed)
}

/// A DEBUG record. The message is built only when debugging is on, so
/// the lines cost nothing otherwise. Callers never put a token, a
/// signature or a credential in it: see [`unsigned`].
pub fn debug(logger: &str, message: impl FnOnce() -> String) {
    if debug_enabled() {
        log(logger, Level::Debug, &message());
    }
}

/// A locator as a DEBUG line may show it: `hash+size`, every hint (the
/// `+A` permission signature among them) cut off.
pub fn unsigned(locator: &str) -> &str {
    match locator.match_indices('+').nth(1) {
        Some((at, _)) => &locator[..at],
        None => locator,
    }
}

/// Milliseconds since `start`, for DEBUG lines.
pub fn millis(start: std::time::Instant) -> u128 {
    start.elapsed().as_millis()
}

/// From now on the first ERROR or DEBUG record gets
/// ` (X-Request-Id: <id>)` appended, once (legacy arv-put's log filter).
pub fn set_request_id(id: &str) {
    *REQUEST_ID.lock().unwrap_or_else(|e| e.into_inner()) = Some(id.to_string());
}

/// Where log records go: called with the logger's name, the level and
/// the message.
pub type Sink = Box<dyn Fn(&str, Level, &str) + Send + Sync>;

static SINK: RwLock<Option<Sink>> = RwLock::new(None);

/// Sends every record from now on to `sink` (`None`: drop them, the
/// default).
pub fn set_sink(sink: Option<Sink>) {
    *SINK.write().unwrap_or_else(|e| e.into_inner()) = sink;
}

/// The command's sink: legacy log lines on stderr (spec §9.3).
pub fn stderr_sink() -> Sink {
    Box::new(|logger, level, message| {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let local = now + local_offset(now);
        write_stderr(&format_line(
            local,
            logger,
            std::process::id(),
            level,
            message,
        ));
    })
}

/// Logs one record.
pub fn log(logger: &str, level: Level, message: &str) {
    if level == Level::Debug && !debug_enabled() {
        return;
    }
    if level == Level::Info && logger == ARV_PUT && SILENT.load(Ordering::Relaxed) {
        return;
    }
    let sink = SINK.read().unwrap_or_else(|e| e.into_inner());
    let Some(sink) = sink.as_ref() else {
        return;
    };
    let mut message = message.to_string();
    if matches!(level, Level::Error | Level::Debug) {
        if let Some(id) = REQUEST_ID.lock().unwrap_or_else(|e| e.into_inner()).take() {
            message.push_str(&format!(" (X-Request-Id: {id})"));
        }
    }
    sink(logger, level, &message);
}

/// An INFO record of keepdocker's logger.
pub fn info(message: &str) {
    log(KEEPDOCKER, Level::Info, message);
}

/// A WARNING record of keepdocker's logger.
pub fn warning(message: &str) {
    log(KEEPDOCKER, Level::Warning, message);
}

/// An ERROR record of keepdocker's logger.
pub fn error(message: &str) {
    log(KEEPDOCKER, Level::Error, message);
}

/// One log line; `local` is seconds since the epoch shifted by the local
/// offset.
pub fn format_line(local: i64, logger: &str, pid: u32, level: Level, message: &str) -> String {
    let (y, mo, d, h, mi, s) = civil(local);
    format!(
        "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} {logger}[{pid}] {}: {message}\n",
        level.name()
    )
}

/// Year, month, day, hour, minute, second of seconds since 1970-01-01
/// (proleptic Gregorian; H. Hinnant's `civil_from_days`).
pub fn civil(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let (y, m, d) = crate::timestamp::civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400) as u32;
    (i64::from(y), m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The local UTC offset in seconds at `now`, from `TZ` or /etc/localtime.
fn local_offset(now: i64) -> i64 {
    let data = match std::env::var("TZ") {
        Err(_) => std::fs::read("/etc/localtime").ok(),
        Ok(tz) => {
            let name = tz.strip_prefix(':').unwrap_or(&tz);
            if name.is_empty() || name == "UTC" || name == "UTC0" || name.contains("..") {
                None
            } else if name.starts_with('/') {
                std::fs::read(name).ok()
            } else {
                std::fs::read(format!("/usr/share/zoneinfo/{name}")).ok()
            }
        }
    };
    data.and_then(|d| tzif_offset(&d, now)).unwrap_or(0)
}

/// The offset a TZif file gives at `now`: the type of the last transition
/// at or before `now`, or the first type before every transition.
pub fn tzif_offset(data: &[u8], now: i64) -> Option<i64> {
    let header = |at: usize| -> Option<(u8, [usize; 6])> {
        let h = data.get(at..at + 44)?;
        if &h[..4] != b"TZif" {
            return None;
        }
        let mut counts = [0usize; 6];
        for (i, c) in counts.iter_mut().enumerate() {
            let b = &h[20 + 4 * i..24 + 4 * i];
            *c = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
        }
        Some((h[4], counts))
    };
    let (version, counts) = header(0)?;
    let v1_len = |c: [usize; 6], t: usize| {
        let [isut, isstd, leap, time, typ, chr] = c;
        time * t + time + typ * 6 + chr + leap * (t + 4) + isstd + isut
    };
    let (start, counts, tsize) = if version >= b'2' {
        let second = 44 + v1_len(counts, 4);
        let (_, c2) = header(second)?;
        (second + 44, c2, 8)
    } else {
        (44, counts, 4)
    };
    let [_, _, _, timecnt, typecnt, _] = counts;
    if typecnt == 0 {
        return None;
    }
    let times = data.get(start..start + timecnt * tsize)?;
    let idx = data.get(start + timecnt * tsize..start + timecnt * (tsize + 1))?;
    let types_at = start + timecnt * (tsize + 1);
    let types = data.get(types_at..types_at + typecnt * 6)?;
    let time = |i: usize| -> i64 {
        let b = &times[i * tsize..(i + 1) * tsize];
        if tsize == 8 {
            i64::from_be_bytes(b.try_into().unwrap())
        } else {
            i64::from(i32::from_be_bytes(b.try_into().unwrap()))
        }
    };
    let mut which = 0usize;
    for (i, &kind) in idx.iter().enumerate() {
        if time(i) <= now {
            which = usize::from(kind);
        } else {
            break;
        }
    }
    let t = types.get(which * 6..which * 6 + 4)?;
    Some(i64::from(i32::from_be_bytes(t.try_into().unwrap())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_lines_show_no_signature() {
        let signed = "acbd18db4cc2f85cedef654fccc4a4d8+3+A0123abcd@65f00000";
        assert_eq!(unsigned(signed), "acbd18db4cc2f85cedef654fccc4a4d8+3");
        assert_eq!(
            unsigned("acbd18db4cc2f85cedef654fccc4a4d8+3"),
            "acbd18db4cc2f85cedef654fccc4a4d8+3"
        );
        assert_eq!(
            unsigned("acbd18db4cc2f85cedef654fccc4a4d8"),
            "acbd18db4cc2f85cedef654fccc4a4d8"
        );
    }

    #[test]
    fn line_format_matches_legacy() {
        // 2020-06-29 13:48:21 UTC
        let line = format_line(
            1_593_438_501,
            ARV_PUT,
            769,
            Level::Info,
            "Collection saved as 'x'",
        );
        assert_eq!(
            line,
            "2020-06-29 13:48:21 arvados.arv_put[769] INFO: Collection saved as 'x'\n"
        );
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(civil(951_782_400), (2000, 2, 29, 0, 0, 0));
        assert_eq!(civil(-1), (1969, 12, 31, 23, 59, 59));
    }

    fn tzif(version: u8, transitions: &[(i64, u8)], offsets: &[i32]) -> Vec<u8> {
        let block = |wide: bool| {
            let mut out = b"TZif".to_vec();
            out.push(version);
            out.extend([0u8; 15]);
            for c in [0, 0, 0, transitions.len(), offsets.len(), 4] {
                out.extend((c as u32).to_be_bytes());
            }
            for (t, _) in transitions {
                if wide {
                    out.extend(t.to_be_bytes());
                } else {
                    out.extend((*t as i32).to_be_bytes());
                }
            }
            out.extend(transitions.iter().map(|(_, i)| *i));
            for o in offsets {
                out.extend(o.to_be_bytes());
                out.extend([0u8, 0u8]);
            }
            out.extend(b"UTC\0");
            out
        };
        let mut data = block(false);
        if version >= b'2' {
            data.extend(block(true));
            data.extend(b"\nCET-1\n");
        }
        data
    }

    #[test]
    fn tzif_offsets() {
        for v in [0u8, b'2'] {
            let data = tzif(v, &[(1000, 1), (2000, 0)], &[3600, 7200]);
            assert_eq!(tzif_offset(&data, 0), Some(3600));
            assert_eq!(tzif_offset(&data, 1500), Some(7200));
            assert_eq!(tzif_offset(&data, 5000), Some(3600));
        }
        assert_eq!(tzif_offset(b"nonsense", 0), None);
    }
}
