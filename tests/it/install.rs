//! `affiliated install` (#22), run with `--root` into a temporary directory: what it writes
//! passes `systemd-analyze verify` (and the sandbox rating of the shipped units), `caddy
//! validate` and `nginx -t` (before and after the first certificate); files have their modes;
//! a second run keeps the generated secrets and hand-edited proxy files; bad input is refused;
//! `--dry-run` writes nothing; `--from-backup` writes the env file from a backup's settings.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::restore::text;
use crate::support::{KEY, Server, bin};
use crate::systemd::{MAX_EXPOSURE, find_tool, output_text, overall_exposure, skip, systemd_analyze};

fn install(root: &Path, args: &[&str]) -> Output {
    Command::new(bin()).arg("install").arg("--root").arg(root).args(args).output().unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn under(root: &Path, absolute: &str) -> PathBuf {
    root.join(absolute.trim_start_matches('/'))
}

fn env_value(env: &str, name: &str) -> String {
    env.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in:\n{env}"))
        .into()
}

/// The written units pass `systemd-analyze verify` (pointing at the binary install copied) and
/// keep the sandbox rating of the shipped ones.
fn verify_units(root: &Path) {
    let Some(analyze) = systemd_analyze() else { return };
    let copy = tempfile::tempdir().unwrap();
    let names = ["affiliated.service", "affiliated-backup.service", "affiliated-backup.timer"];
    let installed = under(root, "/usr/local/bin/affiliated");
    for name in names {
        let text = std::fs::read_to_string(under(root, &format!("/etc/systemd/system/{name}"))).unwrap();
        assert!(name.ends_with(".timer") || text.contains("ExecStart=/usr/local/bin/affiliated "), "{name}");
        std::fs::write(copy.path().join(name), text.replace("/usr/local/bin/affiliated", installed.to_str().unwrap()))
            .unwrap();
    }
    let out = Command::new(&analyze)
        .arg("verify")
        .args(names.iter().map(|n| copy.path().join(n)))
        .env("SYSTEMD_LOG_COLOR", "0")
        .output()
        .unwrap();
    assert!(out.status.success() && !output_text(&out).contains("affiliated"), "{}", output_text(&out));
    for name in &names[..2] {
        let out =
            Command::new(&analyze).args(["security", "--offline=true"]).arg(copy.path().join(name)).output().unwrap();
        let exposure = overall_exposure(&output_text(&out)).unwrap();
        assert!(exposure <= MAX_EXPOSURE, "{name}: {exposure}");
    }
    for link in [
        "/etc/systemd/system/multi-user.target.wants/affiliated.service",
        "/etc/systemd/system/timers.target.wants/affiliated-backup.timer",
    ] {
        let target = std::fs::read_link(under(root, link)).unwrap();
        assert_eq!(target, Path::new("/etc/systemd/system").join(Path::new(link).file_name().unwrap()), "{link}");
    }
}

#[test]
fn install_with_caddy_writes_what_systemd_and_caddy_accept_and_keeps_its_secrets() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    // Debian's caddy package leaves a default Caddyfile: it is set aside, never deleted.
    std::fs::create_dir_all(under(r, "/etc/caddy")).unwrap();
    std::fs::write(under(r, "/etc/caddy/Caddyfile"), ":80 {\n\troot * /usr/share/caddy\n\tfile_server\n}\n").unwrap();
    let out = install(r, &["--domain", "Shop.Example", "--proxy", "caddy"]);
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);

    let env_path = under(r, "/etc/affiliated/affiliated.env");
    let env = std::fs::read_to_string(&env_path).unwrap();
    assert_eq!(env_value(&env, "AFFILIATED_PUBLIC_URL"), "https://shop.example");
    assert_eq!(env_value(&env, "AFFILIATED_TRUSTED_PROXY"), "127.0.0.1");
    let (api_key, admin_token) = (env_value(&env, "AFFILIATED_API_KEY"), env_value(&env, "AFFILIATED_ADMIN_TOKEN"));
    assert!(api_key.starts_with("afk_") && api_key.len() >= 40, "{api_key}");
    assert!(admin_token.starts_with("adm_") && admin_token.len() >= 40, "{admin_token}");
    assert!(!said.contains(&api_key) && !said.contains(&admin_token), "secrets never reach the output:\n{said}");
    assert_eq!((mode(&env_path), mode(&under(r, "/etc/affiliated"))), (0o600, 0o700));
    assert_eq!(mode(&under(r, "/etc/systemd/system/affiliated.service")), 0o644);
    let installed = under(r, "/usr/local/bin/affiliated");
    assert_eq!(mode(&installed), 0o755);
    assert_eq!(std::fs::read(&installed).unwrap(), std::fs::read(bin()).unwrap(), "the binary is copied");
    for step in ["DNS: point shop.example", "ufw allow 22/tcp", "timedatectl set-ntp true", "systemctl reload caddy"] {
        assert!(said.contains(step), "{step:?} not in the next steps:\n{said}");
    }
    assert!(said.contains("grep -E '^AFFILIATED_(API_KEY|ADMIN_TOKEN)=' /etc/affiliated/affiliated.env"), "{said}");
    assert!(said.contains("Caddyfile.before-affiliated"), "{said}");
    assert!(
        std::fs::read_to_string(under(r, "/etc/caddy/Caddyfile.before-affiliated")).unwrap().contains("file_server")
    );

    verify_units(r);
    let caddyfile = under(r, "/etc/caddy/Caddyfile");
    assert!(std::fs::read_to_string(&caddyfile).unwrap().contains("\nshop.example {\n"));
    if let Some(caddy) = find_tool(&["/usr/bin/caddy", "caddy"]) {
        let home = tempfile::tempdir().unwrap();
        let out = Command::new(caddy)
            .args(["validate", "--adapter", "caddyfile", "--config"])
            .arg(&caddyfile)
            .env("HOME", home.path())
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .output()
            .unwrap();
        assert!(out.status.success() && text(&out).contains("Valid configuration"), "{}", text(&out));
    } else {
        skip("caddy is not installed (Debian: apt-get install caddy)");
    }

    // Again: the secrets stay, unchanged files say so, nothing is set aside twice.
    let out = install(r, &["--domain", "shop.example"]);
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert_eq!(std::fs::read_to_string(&env_path).unwrap(), env, "the env file is kept");
    assert!(said.contains(&format!("kept {} as it is: it holds the secrets", env_path.display())), "{said}");
    assert!(said.contains(&format!("unchanged {}", caddyfile.display())), "{said}");
    assert!(said.contains(&format!("unchanged {}", installed.display())), "{said}");
    // Another domain later: the env file is kept, and that is said.
    let out = install(r, &["--domain", "track.shop.example"]);
    assert!(text(&out).contains("sets AFFILIATED_PUBLIC_URL=https://shop.example; edit it"), "{}", text(&out));
}

/// `nginx -t` on the written site, with the paths moved under the root, inside the
/// surroundings Debian's nginx.conf gives a site.
fn nginx_accepts(root: &Path) -> Option<String> {
    let nginx = find_tool(&["/usr/sbin/nginx", "nginx"]);
    let Some(nginx) = nginx else {
        skip("nginx is not installed (Debian: apt-get install nginx)");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    // sites-enabled/affiliated links to this file (checked by the caller).
    let site = std::fs::read_to_string(under(root, "/etc/nginx/sites-available/affiliated")).unwrap();
    let r = root.display();
    let site = site
        .replace("/etc/letsencrypt/", &format!("{r}/etc/letsencrypt/"))
        .replace("/var/www/html", &format!("{r}/var/www/html"));
    std::fs::write(dir.path().join("site.conf"), &site).unwrap();
    let d = dir.path().display();
    // SAFETY: geteuid has no preconditions.
    let user = if unsafe { libc::geteuid() } == 0 { "user root;" } else { "" };
    std::fs::write(
        dir.path().join("nginx.conf"),
        format!(
            "{user}\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n    access_log off;\n    \
             client_body_temp_path {d}/body;\n    proxy_temp_path {d}/proxy;\n    fastcgi_temp_path {d}/f;\n    \
             uwsgi_temp_path {d}/u;\n    scgi_temp_path {d}/s;\n    include {d}/site.conf;\n}}\n"
        ),
    )
    .unwrap();
    let out = Command::new(nginx)
        .arg("-t")
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(dir.path().join("nginx.conf"))
        .output()
        .unwrap();
    assert!(out.status.success(), "nginx -t failed:\n{}\n{site}", text(&out));
    Some(site)
}

fn self_signed(root: &Path, domain: &str) -> bool {
    let Some(openssl) = find_tool(&["openssl"]) else {
        skip("openssl is not installed (Debian: apt-get install openssl)");
        return false;
    };
    let live = under(root, &format!("/etc/letsencrypt/live/{domain}"));
    std::fs::create_dir_all(&live).unwrap();
    let out = Command::new(openssl)
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-subj", &format!("/CN={domain}")])
        .arg("-keyout")
        .arg(live.join("privkey.pem"))
        .arg("-out")
        .arg(live.join("fullchain.pem"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    true
}

#[test]
fn install_with_nginx_serves_the_challenge_first_and_https_once_the_certificate_exists() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let out = install(r, &["--domain", "shop.example", "--proxy", "nginx"]);
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains(
            "certbot certonly --webroot -w /var/www/html -d shop.example --deploy-hook \"systemctl reload nginx\""
        ),
        "{said}"
    );
    let site_path = under(r, "/etc/nginx/sites-available/affiliated");
    assert_eq!(
        std::fs::read_link(under(r, "/etc/nginx/sites-enabled/affiliated")).unwrap(),
        Path::new("/etc/nginx/sites-available/affiliated")
    );
    assert!(under(r, "/var/www/html").is_dir());
    verify_units(r);
    if let Some(site) = nginx_accepts(r) {
        assert!(site.contains("location /.well-known/acme-challenge/") && !site.contains("\n    listen 443"), "{site}");
    }

    // The certificate exists now: the same command writes the HTTPS site.
    if !self_signed(r, "shop.example") {
        return;
    }
    let out = install(r, &["--domain", "shop.example", "--proxy", "nginx"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(&format!("updated {}", site_path.display())), "{}", text(&out));
    if let Some(site) = nginx_accepts(r) {
        assert!(site.contains("ssl_certificate ") && site.contains("server_name shop.example;"), "{site}");
        // The syntax this nginx understands (Debian 12: 1.22, before `http2 on;`).
        let version = Command::new(find_tool(&["/usr/sbin/nginx", "nginx"]).unwrap()).arg("-v").output().unwrap();
        let new_syntax = text(&version).split("nginx/").nth(1).is_some_and(|v| {
            let n: Vec<u32> = v.split(|c: char| !c.is_ascii_digit()).take(3).filter_map(|p| p.parse().ok()).collect();
            n >= vec![1, 25, 1]
        });
        assert_eq!(site.contains("\n    http2 on;"), new_syntax, "{}", text(&version));
    }
    // Edited by hand: kept.
    let edited = std::fs::read_to_string(&site_path)
        .unwrap()
        .replace("location /admin {", "location /admin {\n        allow 203.0.113.7;\n        deny all;");
    std::fs::write(&site_path, &edited).unwrap();
    let out = install(r, &["--domain", "shop.example", "--proxy", "nginx"]);
    assert!(text(&out).contains(&format!("kept {}: it was edited", site_path.display())), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&site_path).unwrap(), edited);
}

#[test]
fn install_refuses_bad_input_and_a_dry_run_writes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    for (args, says) in [
        (vec!["--domain", "https://shop.example"], "without scheme, port or path"),
        (vec!["--domain", "localhost"], "it needs a dot"),
        (vec!["--domain", "203.0.113.9"], "an IP address"),
        (vec!["--domain", "shop.example", "--proxy", "apache"], "--proxy must be caddy or nginx"),
        (vec![], "install needs --domain DOMAIN"),
        (vec!["--domain", "shop.example", "extra"], "install takes no arguments"),
    ] {
        let out = install(r, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(says), "{args:?} should say {says:?}: {}", text(&out));
    }
    let out =
        Command::new(bin()).args(["install", "--domain", "a.example", "--root", "/nonexistent/dir"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(std::fs::read_dir(r).unwrap().next().is_none(), "nothing written");

    // On this machine (no --root), only root may write /etc.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(bin())
            .args(["install", "--domain", "shop.example"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(text(&out).contains("run it as root (sudo), or see the plan with --dry-run"), "{}", text(&out));
    }

    let out = install(r, &["--domain", "shop.example", "--proxy", "nginx", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(std::fs::read_dir(r).unwrap().next().is_none(), "a dry run writes nothing: {said}");
    for shown in [
        format!("would write {} (mode 0600):", under(r, "/etc/affiliated/affiliated.env").display()),
        "    AFFILIATED_API_KEY=<generated>".to_string(),
        "    AFFILIATED_ADMIN_TOKEN=<generated>".to_string(),
        "    AFFILIATED_PUBLIC_URL=https://shop.example".to_string(),
        format!("would create {} (mode 0700)", under(r, "/etc/affiliated").display()),
        "    server_name shop.example;".to_string(),
        "(dry run: nothing was written)".to_string(),
        "Next steps:".to_string(),
    ] {
        assert!(said.contains(&shown), "{shown:?} not in:\n{said}");
    }
    assert!(!said.contains("AFFILIATED_API_KEY=afk_"), "{said}");
}

#[test]
fn install_from_a_backup_writes_the_settings_the_backup_ran_with() {
    let mut s = Server::start();
    s.seed();
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("b.db");
    // As the backup unit runs it: with the env file's settings in its environment.
    let out = Command::new(bin())
        .args(["backup", "--db", s.db_path().to_str().unwrap(), backup.to_str().unwrap()])
        .env("AFFILIATED_API_KEY", KEY)
        .env("AFFILIATED_PUBLIC_URL", "https://old.example")
        .env("AFFILIATED_STRIPE_WEBHOOK_SECRET", "whsec_0123456789abcdef0123456789")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(s.stop().code(), Some(0));
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let out = install(r, &["--domain", "new.example", "--from-backup", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("AFFILIATED_PUBLIC_URL is now https://new.example (the backup had https://old.example)")
    );
    assert!(!text(&out).contains("whsec_0123"), "{}", text(&out));
    let env = std::fs::read_to_string(under(r, "/etc/affiliated/affiliated.env")).unwrap();
    assert_eq!(env_value(&env, "AFFILIATED_API_KEY"), KEY);
    assert_eq!(env_value(&env, "AFFILIATED_STRIPE_WEBHOOK_SECRET"), "whsec_0123456789abcdef0123456789");
    assert_eq!(env_value(&env, "AFFILIATED_PUBLIC_URL"), "https://new.example");
    assert!(!env.contains("AFFILIATED_DB="), "the database path is the new machine's");

    // A backup taken without settings cannot provide them.
    let bare = dir.path().join("bare.db");
    let out = Command::new(bin())
        .args(["backup", "--db", s.db_path().to_str().unwrap(), bare.to_str().unwrap()])
        .env_clear()
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let other = tempfile::tempdir().unwrap();
    let out = install(other.path(), &["--domain", "new.example", "--from-backup", bare.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("holds no settings"), "{}", text(&out));
}

/// The commands for the server machine (install, restore) are listed in the main help in a
/// section of their own, and their help lines up like every other command's.
#[test]
fn the_server_machine_commands_are_listed_and_their_help_lines_up() {
    let main = String::from_utf8(Command::new(bin()).arg("--help").output().unwrap().stdout).unwrap();
    let section = main.split("On the server machine:\n").nth(1).expect("a section for the server machine");
    let commands: Vec<&str> = section
        .lines()
        .take_while(|l| l.starts_with("  "))
        .filter(|l| !l.starts_with("   "))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(commands, ["install", "restore"]);
    for command in commands {
        let out = Command::new(bin()).args([command, "--help"]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{command}");
        crate::cli::check_columns(command, &String::from_utf8(out.stdout).unwrap());
    }
}
