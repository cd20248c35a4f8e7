//! Options as people read them, rendered from their declarations: a command's `--help` (options
//! under their group's heading, descriptions in one column, the variable and default in
//! brackets) and the README's Markdown table. Nothing here is written by hand per option.
//!
//! Architecture Invariant: pure text from declarations; no I/O.

use super::opt::{Fallback, Kind, Opt};

/// Where descriptions start in `--help`.
const COLUMN: usize = 26;
/// Lines of `--help` are wrapped to this width.
const WIDTH: usize = 84;

/// A command's whole `--help`: `about` (what it does and its usage), its options under the
/// heading `Options:`, then `notes`.
pub fn render(about: &str, opts: &[Opt], notes: &str) -> String {
    let all: Vec<Opt> = opts.iter().map(|o| o.group("Options")).collect();
    render_grouped(about, &all, notes)
}

/// Like [`render`], with the options under their groups' headings, in the order the groups
/// first appear.
pub fn render_grouped(about: &str, opts: &[Opt], notes: &str) -> String {
    let mut out = about.trim_end().to_string();
    out.push('\n');
    let mut groups: Vec<&str> = Vec::new();
    for opt in opts {
        if !groups.contains(&opt.group) {
            groups.push(opt.group);
        }
    }
    for group in groups {
        out.push_str(&format!("\n{group}:\n"));
        for opt in opts.iter().filter(|o| o.group == group) {
            entry(&mut out, opt);
        }
    }
    if !notes.trim().is_empty() {
        out.push('\n');
        out.push_str(notes.trim_end());
        out.push('\n');
    }
    out
}

/// One option: its usage, its help in the column, and a bracketed line for its variable and
/// default.
fn entry(out: &mut String, opt: &Opt) {
    let usage = opt.usage();
    let mut lines = wrap(opt.help, WIDTH - COLUMN);
    if let Some(facts) = facts(opt) {
        lines.extend(wrap(&facts, WIDTH - COLUMN));
    }
    let indent = " ".repeat(COLUMN);
    let mut rest = lines.iter();
    if 2 + usage.len() + 2 <= COLUMN {
        let first = rest.next().map(String::as_str).unwrap_or("");
        out.push_str(&format!("  {usage:<width$}{first}\n", width = COLUMN - 2));
    } else {
        out.push_str(&format!("  {usage}\n"));
    }
    for line in rest {
        out.push_str(&format!("{indent}{line}\n"));
    }
}

/// `[AFFILIATED_DB, default affiliated.db]`, or `None` when there is nothing to say.
fn facts(opt: &Opt) -> Option<String> {
    let mut parts = Vec::new();
    match (opt.kind, opt.env) {
        (Kind::EnvOnly, _) => parts.push("environment only".to_string()),
        (Kind::Many, Some(env)) => parts.push(format!("{env}, comma-separated")),
        (_, Some(env)) => parts.push(env.to_string()),
        (_, None) => {}
    }
    match opt.default {
        Fallback::Value(value) if opt.env.is_some() || opt.kind != Kind::Switch => {
            parts.push(format!("default {value}"))
        }
        Fallback::Absent(what) if what != "none" => parts.push(format!("default {what}")),
        _ => {}
    }
    (!parts.is_empty()).then(|| format!("[{}]", parts.join(", ")))
}

/// Splits `text` into lines of at most `width` characters at spaces (a longer word stands alone).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// The README's table of `opts`: flag, variable, default, what it does, with a row naming each
/// group before its options.
pub fn markdown_table(opts: &[Opt]) -> String {
    let mut out = String::from("| Flag | Environment | Default | What it does |\n|---|---|---|---|\n");
    let mut group = "";
    for opt in opts {
        if opt.group != group {
            group = opt.group;
            out.push_str(&format!("| **{group}** | | | |\n"));
        }
        let flag = match opt.kind {
            Kind::EnvOnly => "—".to_string(),
            _ => format!("`{}`", opt.usage().replace('|', "\\|")),
        };
        let env = opt.env.map(|e| format!("`{e}`")).unwrap_or_else(|| "—".into());
        let default = match opt.default {
            Fallback::Value(value) => format!("`{value}`"),
            Fallback::Absent(what) => what.to_string(),
        };
        out.push_str(&format!("| {flag} | {env} | {default} | {} |\n", opt.doc));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_line_up_and_long_ones_start_below() {
        let opts = [
            Opt::value("db", "AFFILIATED_DB").takes("PATH").defaults_to("a.db").help("the database file"),
            Opt::value("woocommerce-webhook-secret", "X_SECRET").takes("SECRET").help("the secret"),
            Opt::switch_only("test").help("test data"),
            Opt::env_only("X_KEY").unset_means("generated").help("a key").group("Keys"),
        ];
        let text = render_grouped("About.\n\nUsage: x\n", &opts, "Notes.\n");
        let flat = render("About.", &opts, "");
        assert!(flat.contains("Options:\n  --db PATH") && !flat.contains("Keys:"), "{flat}");
        assert_eq!(
            text,
            "About.\n\nUsage: x\n\nOptions:\n\
             \x20 --db PATH               the database file\n\
             \x20                         [AFFILIATED_DB, default a.db]\n\
             \x20 --woocommerce-webhook-secret SECRET\n\
             \x20                         the secret\n\
             \x20                         [X_SECRET]\n\
             \x20 --test                  test data\n\
             \nKeys:\n\
             \x20 X_KEY                   a key\n\
             \x20                         [environment only, default generated]\n\
             \nNotes.\n"
        );
    }

    #[test]
    fn words_wrap_at_the_width() {
        assert_eq!(wrap("aa bb cc", 5), ["aa bb", "cc"]);
        assert_eq!(wrap("a verylongword b", 4), ["a", "verylongword", "b"]);
        assert!(wrap("", 10).is_empty());
    }

    #[test]
    fn the_markdown_table_escapes_pipes_and_marks_what_has_no_flag() {
        let opts = [
            Opt::value("admin", "AFFILIATED_ADMIN").takes("on|off").defaults_to("on").doc("The admin."),
            Opt::env_only("AFFILIATED_API_KEY").unset_means("generated").doc("A key.").group("Keys"),
        ];
        assert_eq!(
            markdown_table(&opts),
            "| Flag | Environment | Default | What it does |\n|---|---|---|---|\n\
             | **Options** | | | |\n\
             | `--admin on\\|off` | `AFFILIATED_ADMIN` | `on` | The admin. |\n\
             | **Keys** | | | |\n\
             | — | `AFFILIATED_API_KEY` | generated | A key. |\n"
        );
    }
}
