//! Log lines: `RUST_LOG` filters (default `info`). Under systemd (`JOURNAL_STREAM` set) lines
//! carry a syslog priority prefix and no timestamp, which journald adds itself.

use std::io::Write;

pub fn init() {
    let journald = std::env::var_os("JOURNAL_STREAM").is_some();
    // tiny_http logs its accept loop's end at error level, which is our own shutdown; the
    // failure cases it reports are handled (and logged) by the server itself.
    let mut builder = env_logger::Builder::new();
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
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
            writeln!(f, "<{priority}>{}: {}", record.target(), record.args())
        });
    } else {
        builder.format(|f, record| {
            writeln!(f, "{} {:5} {}: {}", f.timestamp_millis(), record.level(), record.target(), record.args())
        });
    }
    let _ = builder.try_init();
}
