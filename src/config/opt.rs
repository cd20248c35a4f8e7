//! What an option is: the one declaration that the parser, `--help`, the README's table and
//! the tests all read. An [`Opt`] says how the option is written (flag, environment variable,
//! value name), what holds when it is not given, and what it does, in words for the terminal
//! and for the README; a [`Setting`] adds the parser that turns its text into a typed value.
//!
//! Architecture Invariant: declarations are plain constants built with the `const fn`s below;
//! nothing here reads the environment or the command line (that is `args.rs`).

/// One option of a command.
#[derive(Clone, Copy, Debug)]
pub struct Opt {
    /// The flag's name without its dashes (`db` for `--db`); empty for a setting that only the
    /// environment gives.
    pub long: &'static str,
    /// The environment variable it falls back to.
    pub env: Option<&'static str>,
    pub kind: Kind,
    /// What the value is called in help (`PATH`, `on|off`); empty for switches.
    pub value: &'static str,
    /// What holds when neither the flag nor the variable is given.
    pub default: Fallback,
    /// The heading it is listed under in `--help`.
    pub group: &'static str,
    /// What it does, for `--help`: plain text, wrapped when shown.
    pub help: &'static str,
    /// What it does, for the README's table: Markdown, one cell.
    pub doc: &'static str,
    /// A valid value other than the default. Shown nowhere: the tests give it to prove that the
    /// option is read.
    pub example: &'static str,
}

/// How an option is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `--name VALUE` (or the variable).
    Value,
    /// `--name` alone means true; the variable holds true or false.
    Switch,
    /// `--name VALUE`, repeatable; the variable holds a comma-separated list.
    Many,
    /// Only the environment variable (secrets that should not show in `ps`).
    EnvOnly,
}

/// What holds when an option is not given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fallback {
    /// This text, parsed exactly as if it had been given: the default shown is the default used.
    Value(&'static str),
    /// Nothing is set; the text says what happens then (`none`, `generated`, `http://LISTEN`).
    Absent(&'static str),
}

impl Opt {
    const fn new(long: &'static str, env: Option<&'static str>, kind: Kind) -> Opt {
        Opt {
            long,
            env,
            kind,
            value: "",
            default: Fallback::Absent("none"),
            group: "Options",
            help: "",
            doc: "",
            example: "",
        }
    }

    /// `--long VALUE`, else the variable `env`.
    pub const fn value(long: &'static str, env: &'static str) -> Opt {
        Opt::new(long, Some(env), Kind::Value)
    }

    /// `--long` alone, else the variable `env` (true or false).
    pub const fn switch(long: &'static str, env: &'static str) -> Opt {
        Opt::new(long, Some(env), Kind::Switch).defaults_to("false")
    }

    /// A switch with no environment fallback.
    pub const fn switch_only(long: &'static str) -> Opt {
        Opt::new(long, None, Kind::Switch).defaults_to("false")
    }

    /// `--long VALUE`, repeatable, else the variable `env` as a comma-separated list.
    pub const fn many(long: &'static str, env: &'static str) -> Opt {
        Opt::new(long, Some(env), Kind::Many)
    }

    /// `--long VALUE` with no environment fallback.
    pub const fn flag_only(long: &'static str) -> Opt {
        Opt::new(long, None, Kind::Value)
    }

    /// `--long VALUE`, repeatable, with no environment fallback.
    pub const fn many_only(long: &'static str) -> Opt {
        Opt::new(long, None, Kind::Many)
    }

    /// The variable `env` alone.
    pub const fn env_only(env: &'static str) -> Opt {
        Opt::new("", Some(env), Kind::EnvOnly)
    }

    /// Names the value in help: `PATH`, `N`, `on|off`.
    pub const fn takes(mut self, value: &'static str) -> Opt {
        self.value = value;
        self
    }

    /// The value used when none is given (parsed like a given one).
    pub const fn defaults_to(mut self, value: &'static str) -> Opt {
        self.default = Fallback::Value(value);
        self
    }

    /// Nothing is set when none is given; `what` says what happens then.
    pub const fn unset_means(mut self, what: &'static str) -> Opt {
        self.default = Fallback::Absent(what);
        self
    }

    pub const fn help(mut self, help: &'static str) -> Opt {
        self.help = help;
        self
    }

    pub const fn doc(mut self, doc: &'static str) -> Opt {
        self.doc = doc;
        self
    }

    pub const fn example(mut self, example: &'static str) -> Opt {
        self.example = example;
        self
    }

    pub const fn group(mut self, group: &'static str) -> Opt {
        self.group = group;
        self
    }

    /// The option with the parser that turns its text into a `T`.
    pub const fn parse<T>(self, parse: fn(&Opt, &str) -> Result<T, String>) -> Setting<T> {
        Setting { opt: self, parse }
    }

    /// How the option is written on the command line (`--db PATH`), or its variable when only
    /// the environment gives it.
    pub fn usage(&self) -> String {
        match (self.kind, self.value) {
            (Kind::EnvOnly, _) => self.env.unwrap_or_default().to_string(),
            (_, "") => format!("--{}", self.long),
            (_, value) => format!("--{} {value}", self.long),
        }
    }

    /// The default's text: the value used, or what happens without one.
    pub fn default_text(&self) -> &'static str {
        match self.default {
            Fallback::Value(text) | Fallback::Absent(text) => text,
        }
    }

    /// `--long / ENV`, `--long` or `ENV`: how messages name the option.
    pub fn names(&self) -> String {
        match (self.kind, self.env) {
            (Kind::EnvOnly, env) => env.unwrap_or_default().to_string(),
            (_, Some(env)) => format!("--{} / {env}", self.long),
            (_, None) => format!("--{}", self.long),
        }
    }
}

/// An option and its parser: what `Serve::from_args` reads, keyed by the declaration.
pub struct Setting<T> {
    pub opt: Opt,
    /// Turns one given value into a `T`, or says what is wrong with it.
    pub parse: fn(&Opt, &str) -> Result<T, String>,
}

impl<T> Setting<T> {
    pub const fn group(mut self, group: &'static str) -> Setting<T> {
        self.opt.group = group;
        self
    }
}

impl AsRef<Opt> for Opt {
    fn as_ref(&self) -> &Opt {
        self
    }
}

impl<T> AsRef<Opt> for Setting<T> {
    fn as_ref(&self) -> &Opt {
        &self.opt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_and_names() {
        let db = Opt::value("db", "AFFILIATED_DB").takes("PATH");
        assert_eq!(db.usage(), "--db PATH");
        assert_eq!(db.names(), "--db / AFFILIATED_DB");
        let test = Opt::switch_only("test");
        assert_eq!(test.usage(), "--test");
        assert_eq!(test.names(), "--test");
        assert_eq!(test.default, Fallback::Value("false"));
        let key = Opt::env_only("AFFILIATED_API_KEY");
        assert_eq!(key.usage(), "AFFILIATED_API_KEY");
        assert_eq!(key.names(), "AFFILIATED_API_KEY");
    }
}
