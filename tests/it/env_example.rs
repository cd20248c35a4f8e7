//! systemd/affiliated.env.example as an operator uses it: the example as written starts a
//! server, and the settings it once called "coming soon" (click retention, sweep interval,
//! postback token, private postbacks) work from the environment. (That it lists every variable
//! the code reads is in `systemd.rs`.) And no shipped document calls something that works
//! "coming": the env example did, and docs/admin.md called the portal "coming" after it shipped.

use std::time::Duration;

use serde_json::json;

use crate::support::{Server, eventually};

fn example() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/affiliated.env.example")).unwrap()
}

/// `NAME=value` of every setting with a value, commented out (the default) or not.
fn settings(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.trim_start_matches('#').split_once('='))
        .filter(|(name, value)| {
            (name.starts_with("AFFILIATED_") || *name == "RUST_LOG") && !name.contains(' ') && !value.is_empty()
        })
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

#[test]
fn no_shipped_document_calls_a_working_feature_coming() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md"), root.join("ARCHITECTURE.md")];
    for dir in ["docs", "systemd", "deploy"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if std::fs::read_to_string(&path).is_ok() {
                files.push(path);
            }
        }
    }
    assert!(files.len() >= 15, "{files:?}");
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap().to_lowercase();
        // Across line breaks too: "shared with the\n  coming affiliate portal".
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        for stale in ["coming soon", "the coming ", "(soon", "not implemented yet", "will edit them"] {
            assert!(!text.contains(stale), "{} says {stale:?}", path.display());
        }
    }
}

#[test]
fn the_env_example_as_written_starts_a_server() {
    let env: Vec<(String, String)> = settings(&example())
        .into_iter()
        .filter(|(name, _)| name != "AFFILIATED_DB" && name != "AFFILIATED_LISTEN")
        .collect();
    assert!(env.len() >= 15, "{env:?}");
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let s = Server::start_with(&[], &env);
    assert_eq!(s.get_public("/healthz").status, 200, "{}", s.log_text());
}

#[test]
fn the_settings_once_marked_coming_soon_work_from_the_environment() {
    let token = "env-postback-token-0123456789";
    let s = Server::start_with(
        &[],
        &[
            ("AFFILIATED_CLICK_RETENTION", "2s"),
            ("AFFILIATED_SWEEP_INTERVAL", "1s"),
            ("AFFILIATED_POSTBACK_TOKEN", token),
            ("AFFILIATED_ALLOW_PRIVATE_POSTBACKS", "true"),
        ],
    );
    s.seed();
    // The postback token from the environment is the one postbacks carry.
    let click = s.click("ann", json!({}));
    let r = crate::postbacks::fire(&s, &format!("token={token}&click_id={click}&order_id=env-1&amount=10.00"));
    assert_eq!(r.status, 201, "{}", r.text());
    // Retention and the sweep interval: an unconverted click is gone within seconds.
    let stale = s.click("ann", json!({}));
    assert!(
        eventually(Duration::from_secs(20), || s.get(&format!("/api/v1/clicks/{stale}")).status == 404),
        "the stale click was not swept; log:\n{}",
        s.log_text()
    );
    // Private addresses: a webhook on loopback is accepted (refused without the setting).
    let r = s.post("/api/v1/webhooks", &json!({"url": "http://127.0.0.1:9/hook", "events": ["conversion.created"]}));
    assert_eq!(r.status, 201, "{}", r.text());
}
