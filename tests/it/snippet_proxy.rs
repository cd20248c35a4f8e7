//! The first-party click snippet through the shipped proxy configurations: the commented
//! "shop's own domain" blocks at the end of `deploy/nginx.conf` and `deploy/Caddyfile`, taken
//! from the files, uncommented and run for real (plain HTTP on local ports, the test appliance
//! as the upstream). Through nginx a real browser loads `/_a/a.js` from the shop's origin, so
//! the click, the cookie and the order are all first-party, without `--allowed-origin`.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::browser::Browser;
use crate::snippet_browser::{USER_AGENT, assert_credited, clicks, cookie, page, visit};
use crate::support::{BROWSER, KEY, Resp, Server, eventually, read_response, wait_with_deadline};
use crate::systemd::{find_tool, skip};

/// The address test requests come from: the visitor address the appliance must record.
const VISITOR: &str = "127.0.0.77";

/// The commented block of `deploy/<file>` that starts with the line `#{first}`, uncommented:
/// up to the line that closes it at the same indentation.
fn commented_block(file: &str, first: &str) -> String {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy").join(file)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| l.strip_prefix('#') == Some(first));
    let start = start.unwrap_or_else(|| panic!("deploy/{file} no longer has the line #{first}; update this test"));
    let indent = &first[..first.len() - first.trim_start().len()];
    let close = format!("{indent}}}");
    let end = (start..lines.len()).find(|&i| lines[i].strip_prefix('#') == Some(close.as_str()));
    let end = end.unwrap_or_else(|| panic!("deploy/{file}: the block at #{first} never closes"));
    lines[start..=end].iter().map(|l| &l[1..]).collect::<Vec<_>>().join("\n")
}

/// A proxy process, stopped on drop.
struct Proxy {
    child: Child,
    addr: SocketAddr,
    /// Its configuration and logs, removed after it stops.
    _dir: tempfile::TempDir,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = wait_with_deadline(&mut self.child, Duration::from_secs(5));
    }
}

/// Starts `command` (with `{port}` replaced in the file `config` writes) on a free port; tries
/// again when the port was taken in between.
fn start(
    dir: tempfile::TempDir,
    config: impl Fn(u16) -> (String, String),
    command: impl Fn(&Path) -> Command,
) -> Proxy {
    for _ in 0..5 {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let (name, text) = config(port);
        std::fs::write(dir.path().join(&name), text).unwrap();
        let log = std::fs::File::create(dir.path().join("proxy.log")).unwrap();
        let mut child = command(&dir.path().join(&name))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting the proxy");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let up = eventually(Duration::from_secs(15), || {
            matches!(child.try_wait(), Ok(Some(_))) || TcpStream::connect(addr).is_ok()
        });
        if up && matches!(child.try_wait(), Ok(None)) {
            return Proxy { child, addr, _dir: dir };
        }
        let _ = child.kill();
        let _ = child.wait();
        let log = std::fs::read_to_string(dir.path().join("proxy.log")).unwrap_or_default();
        assert!(log.contains("in use"), "the proxy did not start:\n{log}");
    }
    panic!("no free port in five tries");
}

/// One request to the proxy from the visitor address.
fn from_visitor(proxy: &Proxy, method: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&format!("{VISITOR}:0").parse::<SocketAddr>().unwrap().into()).unwrap();
    socket.connect(&proxy.addr.into()).unwrap();
    let mut stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: {BROWSER}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    read_response(&mut stream)
}

/// What the shop's domain passes on, and what it keeps to itself.
fn assert_only_the_snippet_passes(app: &Server, proxy: &Proxy) {
    let script = from_visitor(proxy, "GET", "/_a/a.js", &[("Cookie", "shop_session=secret")]);
    assert_eq!(script.status, 200, "{}", script.text());
    assert!(script.text().contains("affiliated_click_id") && script.header("ETag").is_some(), "{script:?}");
    let headers = [("Referer", "https://shop.example.com/?ref=ann"), ("Sec-Fetch-Site", "same-origin")];
    let r = from_visitor(proxy, "GET", "/_a/c/ann?sub1=first-party", &headers);
    assert_eq!(r.status, 201, "{}", r.text());
    let click = app.get(&format!("/api/v1/clicks/{}", r.json()["click_id"].as_str().unwrap())).json();
    assert_eq!(
        (&click["ip"], &click["sub1"]),
        (&json!(VISITOR), &json!("first-party")),
        "the visitor's address: {click}"
    );
    for (method, path) in
        [("GET", "/_a/api/v1/affiliates"), ("GET", "/_a/admin"), ("GET", "/_a/metrics"), ("POST", "/_a/c/ann")]
    {
        let r = from_visitor(proxy, method, path, &[("X-Api-Key", KEY), ("Content-Length", "0")]);
        assert!(matches!(r.status, 403 | 404), "{method} {path} reached the appliance: {}", r.text());
        assert!(r.header("Content-Type").is_none_or(|t| !t.contains("json")), "{method} {path}: {}", r.text());
    }
}

#[test]
fn nginx_serves_the_snippet_first_party_from_the_shops_domain() {
    let Some(nginx) = find_tool(&["/usr/sbin/nginx", "nginx"]) else {
        return skip("nginx is not installed (Debian: apt-get install nginx)");
    };
    let app = Server::start_with(&["--trusted-proxy", "127.0.0.1", "--store-ip", "full", "--min-click-age", "0"], &[]);
    app.seed();
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    std::fs::create_dir(&site).unwrap();
    std::fs::write(site.join("landing.html"), page(r#"<script async src="/_a/a.js"></script>"#)).unwrap();
    let location = commented_block("nginx.conf", "    location /_a/ {");
    let d = dir.path().display().to_string();
    // As root, nginx would run its worker as `nobody`, which cannot enter the private temp dir.
    let user = if std::fs::metadata(dir.path()).unwrap().uid() == 0 { "user root;" } else { "" };
    let upstream = app.addr;
    let config = |port: u16| {
        let text = format!(
            "{user}\ndaemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/proxy.log warn;\n\
             events {{ worker_connections 64; }}\nhttp {{\n    access_log {d}/access.log;\n\
             client_body_temp_path {d}/body;\n    proxy_temp_path {d}/proxy;\n    fastcgi_temp_path {d}/fastcgi;\n\
             uwsgi_temp_path {d}/uwsgi;\n    scgi_temp_path {d}/scgi;\n    types {{ text/html html; }}\n\
             upstream affiliated {{ server {upstream}; }}\n    server {{\n    listen 127.0.0.1:{port};\n\
             root {d}/site;\n{location}\n    }}\n}}\n"
        );
        ("nginx.conf".to_string(), text)
    };
    let proxy = start(dir, config, |file| {
        let mut cmd = Command::new(&nginx);
        cmd.arg("-p").arg(file.parent().unwrap()).arg("-c").arg(file).arg("-e").arg(file.with_file_name("proxy.log"));
        cmd
    });
    assert_only_the_snippet_passes(&app, &proxy);
    let before = clicks(&app);

    let Some(browser) = Browser::start_with("first-party snippet test", 1024, 768, &[USER_AGENT]) else { return };
    let shop = format!("http://{}", proxy.addr);
    let landing = format!("{shop}/landing.html?ref=ann&sub2=nginx");
    let seen = visit(&browser, &landing);
    let id = cookie(&seen).unwrap_or_else(|| panic!("no cookie: {seen}\n{}", app.log_text()));
    assert_eq!(seen["clickId"], json!(id));
    assert_eq!(clicks(&app), before + 1);
    let click = app.get(&format!("/api/v1/clicks/{id}")).json();
    // Same-origin, the browser tells the whole landing page.
    assert_eq!((&click["landing_url"], &click["sub2"]), (&json!(landing), &json!("nginx")), "{click}");
    assert_eq!(click["source"], "snippet");
    assert_credited(&app, "first-party-order-1", &id);
}

#[test]
fn caddy_serves_the_snippet_first_party_from_the_shops_domain() {
    let Some(caddy) = find_tool(&["/usr/bin/caddy", "caddy"]) else {
        return skip("caddy is not installed (Debian: apt-get install caddy)");
    };
    let app = Server::start_with(&["--trusted-proxy", "127.0.0.1", "--store-ip", "full"], &[]);
    app.seed();
    let block = commented_block("Caddyfile", "\thandle_path /_a/* {");
    assert!(block.contains("reverse_proxy 127.0.0.1:8080 {"), "update this test: {block}");
    let block = block.replace("127.0.0.1:8080", &app.addr.to_string());
    let config = |port: u16| {
        let text = format!(
            "{{\n\tadmin off\n}}\n\nhttp://:{port} {{\n\tbind 127.0.0.1\n{block}\n\trespond \"the shop\"\n}}\n"
        );
        ("Caddyfile".to_string(), text)
    };
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().to_path_buf();
    let proxy = start(dir, config, |file| {
        let mut cmd = Command::new(&caddy);
        cmd.args(["run", "--adapter", "caddyfile", "--config"]).arg(file);
        cmd.env("HOME", &home).env("XDG_DATA_HOME", home.join("data")).env("XDG_CONFIG_HOME", home.join("config"));
        cmd
    });
    assert_only_the_snippet_passes(&app, &proxy);
    assert_eq!(from_visitor(&proxy, "GET", "/", &[]).text(), "the shop");
}
