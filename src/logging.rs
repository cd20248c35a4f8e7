//! Log lines: `RUST_LOG` filters (default `info`). Under systemd (`JOURNAL_STREAM` set) lines
//! carry a syslog priority prefix and no timestamp, which journald adds itself.

use std::io::Write;

pub fn init() {
    let journald = std::env::var_os("JOURNAL_STREAM").is_some();
    // tiny_http logs its accept loop's end at error level, which is our own shutdown; the
    // failure cases it reports are handled (and logged) by the server itself.
    let mut builder = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info,tiny_http=off"));
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
