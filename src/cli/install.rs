//! `affiliated install --domain D`: sets up a Debian or Ubuntu machine that has no Rust
//! toolchain, as root: copies the binary to /usr/local/bin, writes the systemd units, the env
//! file with generated secrets (or a backup's settings), the reverse proxy's site for D, enables
//! the server and the nightly backup, and prints what is left to do (DNS, firewall, clock,
//! certificate, who reads the secrets). `--root DIR` writes under DIR instead of `/` (and runs
//! nothing); `--dry-run` prints the plan and writes nothing. The texts are `install/texts.rs`,
//! the rules for files already there `install/apply.rs`. Never overwrites a generated secret.

mod apply;
mod texts;

use std::path::PathBuf;
use std::process::Command;

use apply::{Existing, Item, Root};

use super::{Failure, Outcome};
use crate::config::{Args, Opt};

const ABOUT: &str = "\
Set up this machine to run affiliated behind a TLS reverse proxy, as root, without a Rust
toolchain: copy this binary to /usr/local/bin/affiliated, write the systemd units, write
/etc/affiliated/affiliated.env (mode 0600) with a generated API key and admin token and
AFFILIATED_PUBLIC_URL=https://DOMAIN, write the proxy's site for DOMAIN, enable the server and
the nightly backup timer, and print the next steps. Run again at any time: it keeps the env
file (and its secrets) and proxy files edited by hand, and says what it kept.

Usage: affiliated install --domain DOMAIN [--proxy caddy|nginx] [--root DIR] [--dry-run]
                          [--from-backup BACKUP]
";

const NOTES: &str = "\
There is no system user to create: the units run as a dynamic user that systemd makes while
they run. See docs/operations.md, Install.
";

const DOMAIN: Opt = Opt::flag_only("domain")
    .takes("DOMAIN")
    .help("the public host name tracking links use (its DNS must point here for the certificate)");
const PROXY: Opt =
    Opt::flag_only("proxy").takes("caddy|nginx").defaults_to("caddy").help("which reverse proxy's site to write");
const ROOT: Opt = Opt::flag_only("root").takes("DIR").help(
    "write everything under DIR instead of / and run nothing (no systemctl): to check the result, or to build \
     an image",
);
const DRY_RUN: Opt =
    Opt::switch_only("dry-run").help("print every file it would write (secrets masked) and write nothing");
const FROM_BACKUP: Opt = Opt::flag_only("from-backup").takes("BACKUP").help(
    "on a new machine: write the env file from the settings that BACKUP (written by `affiliated backup` under \
     the backup timer) ran with, instead of generating secrets; then restore the database with `affiliated \
     restore`",
);
const OPTIONS: &[Opt] = &[DOMAIN, PROXY, ROOT, DRY_RUN, FROM_BACKUP];

pub fn help() -> String {
    crate::config::help::render(ABOUT, OPTIONS, NOTES)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Proxy {
    Caddy,
    Nginx,
}

const BINARY: &str = "/usr/local/bin/affiliated";
const ENV_FILE: &str = "/etc/affiliated/affiliated.env";
const UNITS: &str = "/etc/systemd/system";
const NGINX_SITE: &str = "/etc/nginx/sites-available/affiliated";

pub fn run(parser: &mut lexopt::Parser) -> Outcome {
    let args = Args::parse(parser, OPTIONS).map_err(Failure::usage)?;
    if args.help {
        print!("{}", help());
        return Ok(());
    }
    if let Some(extra) = args.positionals.first() {
        return Err(Failure::usage(format!("install takes no arguments (got {extra:?}); see --help")));
    }
    let domain = args.get(&DOMAIN).ok_or_else(|| Failure::usage("install needs --domain DOMAIN; see --help"))?;
    let domain = texts::domain(&domain).map_err(Failure::usage)?;
    let proxy = match args.get(&PROXY).as_deref() {
        None | Some("caddy") => Proxy::Caddy,
        Some("nginx") => Proxy::Nginx,
        Some(other) => return Err(Failure::usage(format!("--proxy must be caddy or nginx, not {other:?}"))),
    };
    let dry_run = args.get(&DRY_RUN).is_some();
    let root = match args.get(&ROOT) {
        None => Root(PathBuf::from("/")),
        Some(dir) if std::path::Path::new(&dir).is_dir() => Root(PathBuf::from(dir)),
        Some(dir) => return Err(Failure::usage(format!("--root {dir:?} is not a directory"))),
    };
    let on_this_machine = args.get(&ROOT).is_none();
    // SAFETY: geteuid has no preconditions and cannot fail.
    if on_this_machine && !dry_run && unsafe { libc::geteuid() } != 0 {
        return Err(Failure::runtime(
            "install writes to /etc and /usr/local/bin: run it as root (sudo), or see the plan with --dry-run",
        ));
    }
    let env = match args.get(&FROM_BACKUP) {
        None => EnvSource::Generate,
        Some(file) => {
            let backup = crate::store::backup::read(std::path::Path::new(&file))?;
            let settings = backup.environment();
            if settings.is_empty() {
                return Err(Failure::runtime(format!(
                    "{file} holds no settings (written by hand without the env file, or by an older affiliated); run \
                     install without --from-backup and put your settings into {ENV_FILE}"
                )));
            }
            EnvSource::Backup { file, settings }
        }
    };
    let nginx_version = (proxy == Proxy::Nginx).then(nginx_version).flatten();
    let tls_ready = proxy == Proxy::Nginx && certificate_exists(&root, &domain);
    let plan = Plan { domain: &domain, proxy, env: &env, nginx_version, tls_ready };
    let items = plan.items()?;
    if dry_run {
        for line in apply::describe(&root, &items) {
            println!("{line}");
        }
        println!("(dry run: nothing was written)");
    } else {
        for line in apply::apply(&root, &items)? {
            println!("{line}");
        }
        if let Some(note) = env_note(&root, &domain) {
            println!("{note}");
        }
        if on_this_machine {
            activate(proxy);
        }
    }
    println!();
    for line in plan.next_steps(on_this_machine) {
        println!("{line}");
    }
    Ok(())
}

enum EnvSource {
    Generate,
    Backup { file: String, settings: Vec<(String, String)> },
}

/// A file of the plan that holds no secret.
fn file_item(path: &str, content: &str, mode: u32, existing: Existing) -> Item {
    Item::File { path: path.into(), content: content.as_bytes().to_vec(), mode, existing, secrets: Vec::new() }
}

struct Plan<'a> {
    domain: &'a str,
    proxy: Proxy,
    env: &'a EnvSource,
    nginx_version: Option<(u32, u32, u32)>,
    tls_ready: bool,
}

impl Plan<'_> {
    fn items(&self) -> Result<Vec<Item>, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
        let binary = std::fs::read(&exe).map_err(|e| format!("cannot read this binary {}: {e}", exe.display()))?;
        let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
        let (env, secrets) = self.env_file(&today);
        let mut items = vec![
            Item::Dir { path: "/usr/local/bin", mode: 0o755 },
            Item::File {
                path: BINARY.into(),
                content: binary,
                mode: 0o755,
                existing: Existing::Keep(
                    "another affiliated is installed; to upgrade it, follow docs/operations.md, Upgrade",
                ),
                secrets: Vec::new(),
            },
            Item::Dir { path: UNITS, mode: 0o755 },
            file_item(&format!("{UNITS}/affiliated.service"), texts::SERVICE, 0o644, Existing::Replace),
            file_item(&format!("{UNITS}/affiliated-backup.service"), texts::BACKUP_SERVICE, 0o644, Existing::Replace),
            file_item(&format!("{UNITS}/affiliated-backup.timer"), texts::BACKUP_TIMER, 0o644, Existing::Replace),
            Item::Dir { path: "/etc/affiliated", mode: 0o700 },
            Item::File {
                path: ENV_FILE.into(),
                content: env.into_bytes(),
                mode: 0o600,
                existing: Existing::Keep("it holds the secrets generated or restored before"),
                secrets,
            },
        ];
        self.proxy_items(&mut items);
        // What `systemctl enable` makes for the units' [Install] sections.
        for (wants, unit) in [
            ("/etc/systemd/system/multi-user.target.wants", "affiliated.service"),
            ("/etc/systemd/system/timers.target.wants", "affiliated-backup.timer"),
        ] {
            items.push(Item::Dir { path: wants, mode: 0o755 });
            items.push(Item::Link { path: format!("{wants}/{unit}"), target: format!("{UNITS}/{unit}") });
        }
        Ok(items)
    }

    /// The env file's text, with the secrets in it (masked in a dry run): new ones, or the
    /// backup's settings.
    fn env_file(&self, today: &str) -> (String, Vec<String>) {
        match self.env {
            EnvSource::Generate => {
                let api_key = crate::secret::token(crate::store::keys::PREFIX);
                let admin_token = crate::secret::token(super::bootstrap::ADMIN_TOKEN_PREFIX);
                (texts::env_file(self.domain, &api_key, &admin_token, today), vec![api_key, admin_token])
            }
            EnvSource::Backup { file, settings } => {
                let (text, changed) = texts::env_from_backup(self.domain, settings, file, today);
                if let Some(changed) = changed {
                    println!("note: {changed}");
                }
                let secrets = settings.iter().map(|(_, v)| v.clone()).filter(|v| v.len() >= 16).collect();
                (text, secrets)
            }
        }
    }

    /// The proxy's site: its directories, its file, and for nginx the link that enables it.
    fn proxy_items(&self, items: &mut Vec<Item>) {
        match self.proxy {
            Proxy::Caddy => {
                let text = texts::caddyfile(self.domain);
                items.push(Item::Dir { path: "/etc/caddy", mode: 0o755 });
                let ours = vec![text.clone()];
                items.push(file_item(
                    "/etc/caddy/Caddyfile",
                    &text,
                    0o644,
                    Existing::ReplaceForeign { mark: texts::CADDY_MARK, ours },
                ));
            }
            Proxy::Nginx => {
                let h2 = texts::nginx_has_http2_directive(self.nginx_version);
                let text = texts::nginx_site(self.domain, self.tls_ready, h2);
                items.push(Item::Dir { path: "/etc/nginx/sites-available", mode: 0o755 });
                items.push(Item::Dir { path: "/etc/nginx/sites-enabled", mode: 0o755 });
                items.push(Item::Dir { path: "/var/www/html", mode: 0o755 });
                let ours = texts::nginx_sites(self.domain);
                items.push(file_item(NGINX_SITE, &text, 0o644, Existing::ReplaceIfOneOf(ours)));
                items
                    .push(Item::Link { path: "/etc/nginx/sites-enabled/affiliated".into(), target: NGINX_SITE.into() });
            }
        }
    }

    fn next_steps(&self, on_this_machine: bool) -> Vec<String> {
        let d = self.domain;
        let mut steps = vec![
            format!("DNS: point {d} (A and AAAA records) at this server's public addresses."),
            "Firewall: open only SSH, HTTP and HTTPS; the appliance listens on 127.0.0.1:8080 only:\n     \
             ufw allow 22/tcp && ufw allow 80/tcp && ufw allow 443/tcp && ufw enable"
                .to_string(),
            "Clock: keep it synchronised (Stripe and Paddle refuse webhook signatures more than 5 minutes off):\n     \
             timedatectl set-ntp true && timedatectl | grep synchronized"
                .to_string(),
        ];
        steps.push(match (self.proxy, self.tls_ready) {
            (Proxy::Caddy, _) => "Proxy: apt install caddy (if it is not yet), then systemctl reload caddy; Caddy gets \
                                  the certificate itself once DNS points here and ports 80 and 443 are open."
                .to_string(),
            (Proxy::Nginx, false) => format!(
                "Proxy: apt install nginx certbot (if they are not yet) and systemctl reload nginx: the site answers the \
                 certificate challenge over plain HTTP. Then get the certificate and run install again for HTTPS:\n     \
                 certbot certonly --webroot -w /var/www/html -d {d} --deploy-hook \"systemctl reload nginx\"\n     \
                 affiliated install --domain {d} --proxy nginx && nginx -t && systemctl reload nginx"
            ),
            (Proxy::Nginx, true) => "Proxy: nginx -t && systemctl reload nginx (certbot renews the certificate and its \
                                     deploy hook reloads nginx)."
                .to_string(),
        });
        steps.push(if on_this_machine {
            "Start: done (systemctl enable --now affiliated.service affiliated-backup.timer); see it with systemctl \
             status affiliated."
                .to_string()
        } else {
            "Start: systemctl daemon-reload && systemctl enable --now affiliated.service affiliated-backup.timer"
                .to_string()
        });
        steps.push(match self.env {
            EnvSource::Generate => format!(
                "Secrets: only root can read them. The API key (for your shop's backend) and the admin token (log in at \
                 https://{d}/admin) are in {ENV_FILE}:\n     grep -E '^AFFILIATED_(API_KEY|ADMIN_TOKEN)=' {ENV_FILE}\n   \
                 Store them in your password manager. The postback token and the statement signing key are made on \
                 the first start in /var/lib/affiliated/ (root and the service only); docs/operations.md shows how to \
                 print the postback URL."
            ),
            EnvSource::Backup { .. } => format!(
                "Restore: stop the server (systemctl stop affiliated) and put the database back with affiliated restore \
                 (docs/operations.md, Disaster); the secrets are the backup's, in {ENV_FILE} (root only)."
            ),
        });
        steps.push(
            "Backups: affiliated-backup.timer writes one every night to /var/lib/affiliated/backups (the newest 14 \
             stay). Copy them, and affiliated.db.erasure-log more often, off this machine (docs/operations.md, \
             Backups)."
                .to_string(),
        );
        let mut out = vec!["Next steps:".to_string()];
        out.extend(steps.into_iter().enumerate().map(|(i, s)| format!("{}. {s}", i + 1)));
        out
    }
}

/// The installed nginx's version (`nginx -v`), if there is one.
fn nginx_version() -> Option<(u32, u32, u32)> {
    let out = ["/usr/sbin/nginx", "nginx"].iter().find_map(|n| Command::new(n).arg("-v").output().ok())?;
    texts::nginx_version(&format!("{}{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout)))
}

fn certificate_exists(root: &Root, domain: &str) -> bool {
    ["fullchain.pem", "privkey.pem"].iter().all(|f| root.join(&format!("/etc/letsencrypt/live/{domain}/{f}")).exists())
}

/// A kept env file for another domain is worth a word.
fn env_note(root: &Root, domain: &str) -> Option<String> {
    let text = std::fs::read_to_string(root.join(ENV_FILE)).ok()?;
    let url = text.lines().find_map(|l| l.strip_prefix("AFFILIATED_PUBLIC_URL="))?;
    (url.trim_end_matches('/') != format!("https://{domain}"))
        .then(|| format!("note: {ENV_FILE} sets AFFILIATED_PUBLIC_URL={url}; edit it if the domain changed"))
}

/// On this machine: reload systemd, enable and start the units, reload the proxy. A failure
/// is reported with the command to run by hand, never fatal: the files are in place.
fn activate(proxy: Proxy) {
    let mut commands: Vec<Vec<&str>> = vec![
        vec!["systemctl", "daemon-reload"],
        vec!["systemctl", "enable", "--now", "affiliated.service", "affiliated-backup.timer"],
    ];
    match proxy {
        Proxy::Caddy => commands.push(vec!["systemctl", "reload-or-restart", "caddy"]),
        Proxy::Nginx => {
            commands.push(vec!["nginx", "-t"]);
            commands.push(vec!["systemctl", "reload-or-restart", "nginx"]);
        }
    }
    for command in commands {
        let shown = command.join(" ");
        match Command::new(command[0]).args(&command[1..]).output() {
            Ok(out) if out.status.success() => println!("ran {shown}"),
            Ok(out) => {
                println!("`{shown}` failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
                println!("fix what it says and run it by hand");
                return;
            }
            Err(e) => {
                println!("could not run `{shown}` ({e}); run it by hand once the package is installed");
                return;
            }
        }
    }
}
