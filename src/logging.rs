//! Log lines: `RUST_LOG` filters (default `info`). Under systemd (`JOURNAL_STREAM` set) lines
//! carry a syslog priority prefix and no timestamp, which journald adds itself.
//!
//! Every message is written through [`Escaped`], which turns control characters into visible
//! escapes (`\n`, `\r`, `\x1b`, …): a value a client sent can never start a line of its own or
//! forge one, whichever handler logs it and however it was quoted. One record is one line.
//!
//! [`Summary`] turns a flood of identical events (wrong postback tokens) into one line a minute.

use std::fmt::{self, Write as _};
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub fn init() {
    let journald = std::env::var_os("JOURNAL_STREAM").is_some();
    // tiny_http logs its accept loop's end at error level, which is our own shutdown; the
    // failure cases it reports are handled (and logged) by the server itself.
    let mut builder = env_logger::Builder::new();
    // The variable and its default are declared with the server's options (`config::RUST_LOG`).
    let declared = &crate::config::RUST_LOG.opt;
    let filter = std::env::var(declared.env.unwrap_or_default()).unwrap_or_else(|_| declared.default_text().into());
    builder.parse_filters(&filter);
    if !filter.contains("tiny_http") {
        builder.filter_module("tiny_http", log::LevelFilter::Off);
    }
    if journald {
        builder.format(|f, record| {
            let priority = match record.level() {
                log::Level::Error => 3,
                log::Level::Warn => 4,
                log::Level::Info => 6,
                log::Level::Debug | log::Level::Trace => 7,
            };
            writeln!(f, "<{priority}>{}: {}", record.target(), Escaped(record.args()))
        });
    } else {
        builder.format(|f, record| {
            let (stamp, level, target) = (f.timestamp_millis(), record.level(), record.target());
            writeln!(f, "{stamp} {level:5} {target}: {}", Escaped(record.args()))
        });
    }
    let _ = builder.try_init();
}

/// Displays its content with every control character (C0, DEL and C1) and the Unicode line and
/// paragraph separators as visible escapes, so that it stays on one line and cannot carry
/// terminal sequences. Tabs stay as they are.
pub struct Escaped<T>(pub T);

impl<T: fmt::Display> fmt::Display for Escaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = EscapingWriter(f);
        write!(out, "{}", self.0)
    }
}

fn needs_escape(c: char) -> bool {
    (c.is_control() && c != '\t') || matches!(c, '\u{2028}' | '\u{2029}')
}

struct EscapingWriter<'a, 'b>(&'a mut fmt::Formatter<'b>);

impl fmt::Write for EscapingWriter<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s;
        while let Some(at) = rest.find(needs_escape) {
            self.0.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().unwrap_or_default();
            match c {
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                c if (c as u32) < 0x100 => write!(self.0, "\\x{:02x}", c as u32)?,
                c => write!(self.0, "\\u{{{:x}}}", c as u32)?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

/// Counts an event that may repeat many times a second and says when to log a line for it: at
/// the first occurrence, then at most once per `period`, with how many happened since.
pub struct Summary {
    period: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl Summary {
    pub const fn new(period: Duration) -> Summary {
        Summary { period, state: Mutex::new((None, 0)) }
    }

    /// Records one occurrence at `now`; returns the number to report (this one included) when a
    /// line is due.
    pub fn record(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (last, count) = &mut *state;
        *count += 1;
        if last.is_some_and(|at| now.duration_since(at) < self.period) {
            return None;
        }
        *last = Some(now);
        Some(std::mem::take(count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(s: &str) -> String {
        Escaped(s).to_string()
    }

    #[test]
    fn control_characters_become_visible_escapes() {
        assert_eq!(escaped("plain text, tabs\tstay"), "plain text, tabs\tstay");
        assert_eq!(escaped("a\nb\r\nc"), "a\\nb\\r\\nc");
        assert_eq!(escaped("\u{1b}[31mred\u{7f}\u{0}"), "\\x1b[31mred\\x7f\\x00");
        assert_eq!(escaped("c1 \u{85} and next"), "c1 \\x85 and next");
        assert_eq!(escaped("caf\u{e9} \u{2028}"), "caf\u{e9} \\u{2028}");
        let forged = format!("{}", Escaped(format_args!("x {} y", "X\n2026-11-27T00:00:00.000Z ERROR forged")));
        assert!(!forged.contains('\n'), "{forged}");
    }

    #[test]
    fn a_summary_reports_once_per_period_with_the_count() {
        let summary = Summary::new(Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(summary.record(t0), Some(1));
        for i in 1..100 {
            assert_eq!(summary.record(t0 + Duration::from_millis(i * 10)), None);
        }
        assert_eq!(summary.record(t0 + Duration::from_secs(60)), Some(100));
        assert_eq!(summary.record(t0 + Duration::from_secs(61)), None);
    }
}
