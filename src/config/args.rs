//! Reading one command's arguments against its declared options: flags with lexopt, and the
//! environment variables of those options, into raw strings. A flag wins over its variable; an
//! empty variable counts as unset. Typed values come from a [`Setting`]'s parser on top.
//!
//! Architecture Invariant: the environment is read once, in [`Args::parse`], and only for the
//! options the command declares; an option read that was not declared is a bug and panics, so
//! no variable is ever silently ignored.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;

use super::opt::{Fallback, Kind, Opt, Setting};

/// The raw result of parsing one command's arguments. Its `Debug` names what was given but
/// shows no value: some are secrets (the admin token, webhook signing secrets).
#[derive(Default)]
pub struct Args {
    /// Flags as given, by long name.
    values: Vec<(&'static str, String)>,
    /// The declared options' variables that are set and not empty, by name.
    env: Vec<(&'static str, String)>,
    /// Every flag name and variable name the command declared; empty for `Args::default()`,
    /// which stands for "nothing given".
    declared: Vec<&'static str>,
    pub positionals: Vec<String>,
    pub help: bool,
}

impl std::fmt::Debug for Args {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = |given: &[(&'static str, String)]| given.iter().map(|(name, _)| *name).collect::<Vec<_>>();
        f.debug_struct("Args")
            .field("flags", &names(&self.values))
            .field("env", &names(&self.env))
            .field("positionals", &self.positionals.len())
            .field("help", &self.help)
            .finish_non_exhaustive()
    }
}

impl Args {
    /// Reads the rest of the command line against `opts`, and their variables from the
    /// process's environment.
    pub fn parse(parser: &mut lexopt::Parser, opts: &[Opt]) -> Result<Args, String> {
        Args::parse_with_env(parser, opts, |name| std::env::var(name).ok())
    }

    /// Like [`Args::parse`], with the environment given by `env` (for tests).
    pub fn parse_with_env(
        parser: &mut lexopt::Parser,
        opts: &[Opt],
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Args, String> {
        use lexopt::Arg;
        let mut args = Args::default();
        for opt in opts {
            args.declared.extend(opt.env);
            if opt.kind != Kind::EnvOnly {
                args.declared.push(opt.long);
            }
            if let Some(name) = opt.env
                && let Some(value) = env(name).filter(|v| !v.is_empty())
            {
                args.env.push((name, value));
            }
        }
        while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
            match arg {
                Arg::Short('h') | Arg::Long("help") => args.help = true,
                Arg::Long(name) => {
                    let name = name.to_string();
                    let opt = opts
                        .iter()
                        .find(|o| o.kind != Kind::EnvOnly && o.long == name)
                        .ok_or_else(|| format!("unknown option --{name}; see --help"))?;
                    let value = if opt.kind == Kind::Switch {
                        "true".to_string()
                    } else {
                        os_string(parser.value().map_err(|e| e.to_string())?)?
                    };
                    if opt.kind != Kind::Many && args.values.iter().any(|(n, _)| *n == opt.long) {
                        return Err(format!("--{name} was given twice"));
                    }
                    args.values.push((opt.long, value));
                }
                Arg::Value(v) => args.positionals.push(os_string(v)?),
                Arg::Short(c) => return Err(format!("unknown option -{c}; see --help")),
            }
        }
        Ok(args)
    }

    fn check_declared(&self, opt: &Opt) {
        let name = if opt.kind == Kind::EnvOnly { opt.env.unwrap_or_default() } else { opt.long };
        assert!(
            self.declared.is_empty() || self.declared.contains(&name),
            "{} is read but not among the options the command declared",
            opt.names()
        );
    }

    /// The flag's value, else the environment variable's.
    pub fn get(&self, opt: &impl AsRef<Opt>) -> Option<String> {
        let opt = opt.as_ref();
        self.check_declared(opt);
        let flag = || self.values.iter().rev().find(|(n, _)| opt.kind != Kind::EnvOnly && *n == opt.long);
        flag().or_else(|| self.env.iter().find(|(n, _)| Some(*n) == opt.env)).map(|(_, v)| v.clone())
    }

    /// Every value of a repeatable option; the environment variable holds a comma-separated list.
    pub fn get_all(&self, opt: &impl AsRef<Opt>) -> Vec<String> {
        let opt = opt.as_ref();
        self.check_declared(opt);
        let flags: Vec<String> = self.values.iter().filter(|(n, _)| *n == opt.long).map(|(_, v)| v.clone()).collect();
        if !flags.is_empty() {
            return flags;
        }
        self.env
            .iter()
            .find(|(n, _)| Some(*n) == opt.env)
            .map(|(_, v)| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
            .unwrap_or_default()
    }

    /// The typed value: given, else the declared default.
    ///
    /// # Panics
    /// When the option has no default value (read it with [`Args::optional`]).
    pub fn value<T>(&self, setting: &Setting<T>) -> Result<T, String> {
        let opt = &setting.opt;
        match (self.get(setting), opt.default) {
            (Some(given), _) => (setting.parse)(opt, &given),
            (None, Fallback::Value(default)) => (setting.parse)(opt, default),
            (None, Fallback::Absent(_)) => panic!("{} has no default value; read it with Args::optional", opt.names()),
        }
    }

    /// The typed value if one is given.
    pub fn optional<T>(&self, setting: &Setting<T>) -> Result<Option<T>, String> {
        self.get(setting).map(|given| (setting.parse)(&setting.opt, &given)).transpose()
    }

    /// Every typed value of a repeatable option.
    pub fn all<T>(&self, setting: &Setting<T>) -> Result<Vec<T>, String> {
        self.get_all(setting).iter().map(|given| (setting.parse)(&setting.opt, given)).collect()
    }

    pub fn switch(&self, opt: &impl AsRef<Opt>) -> Result<bool, String> {
        super::parse::true_false(opt.as_ref(), self.get(opt).as_deref().unwrap_or("false"))
    }

    pub fn db(&self) -> PathBuf {
        self.value(&super::DB).expect("any text is a path")
    }

    pub fn listen(&self) -> Result<SocketAddr, String> {
        self.value(&super::LISTEN)
    }
}

fn os_string(v: OsString) -> Result<String, String> {
    v.into_string().map_err(|v| format!("argument {v:?} is not valid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: Opt = Opt::value("name", "TEST_NAME");
    const TAGS: Opt = Opt::many("tag", "TEST_TAGS");
    const SECRET: Opt = Opt::env_only("TEST_SECRET");
    const OPTS: &[Opt] = &[NAME, TAGS, SECRET];

    fn parse(flags: &[&str], env: &[(&str, &str)]) -> Result<Args, String> {
        let mut parser = lexopt::Parser::from_args(flags.iter().copied());
        Args::parse_with_env(&mut parser, OPTS, |n| env.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string()))
    }

    #[test]
    fn a_flag_wins_over_its_variable_and_an_empty_variable_is_unset() {
        let args = parse(&["--name", "flag"], &[("TEST_NAME", "env")]).unwrap();
        assert_eq!(args.get(&NAME).as_deref(), Some("flag"));
        let args = parse(&[], &[("TEST_NAME", "env")]).unwrap();
        assert_eq!(args.get(&NAME).as_deref(), Some("env"));
        let args = parse(&[], &[("TEST_NAME", "")]).unwrap();
        assert_eq!(args.get(&NAME), None);
    }

    #[test]
    fn lists_come_from_repeated_flags_or_a_comma_separated_variable() {
        let args = parse(&["--tag", "a", "--tag", "b"], &[("TEST_TAGS", "c")]).unwrap();
        assert_eq!(args.get_all(&TAGS), ["a", "b"]);
        let args = parse(&[], &[("TEST_TAGS", " c, d ,,")]).unwrap();
        assert_eq!(args.get_all(&TAGS), ["c", "d"]);
    }

    #[test]
    fn an_environment_only_setting_has_no_flag() {
        let args = parse(&[], &[("TEST_SECRET", "s")]).unwrap();
        assert_eq!(args.get(&SECRET).as_deref(), Some("s"));
        assert!(parse(&["--", "x"], &[]).unwrap().positionals == ["x"]);
        let e = parse(&["--test-secret", "s"], &[]).unwrap_err();
        assert!(e.contains("unknown option --test-secret"), "{e}");
    }

    #[test]
    #[should_panic(expected = "not among the options the command declared")]
    fn reading_an_undeclared_option_is_a_bug() {
        parse(&[], &[]).unwrap().get(&Opt::value("other", "TEST_OTHER"));
    }

    #[test]
    fn variables_of_undeclared_options_are_not_read() {
        let args = parse(&[], &[("TEST_OTHER", "x")]).unwrap();
        assert!(args.env.iter().all(|(n, _)| *n != "TEST_OTHER"));
    }
}
