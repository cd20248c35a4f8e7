//! Every internal link in README.md and docs/*.md leads somewhere: the file exists, and an
//! anchor names a heading of it (as GitHub makes anchors from headings).

use std::path::Path;

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a Markdown file (headings outside code blocks, with GitHub's -1, -2 for
/// repeats) and its links (outside code blocks).
fn anchors_and_links(text: &str) -> (Vec<String>, Vec<(usize, String)>) {
    let link = regex::Regex::new(r"\]\(([^)\s]+)\)").unwrap();
    let (mut anchors, mut links) = (Vec::new(), Vec::new());
    let mut seen = std::collections::HashMap::new();
    let mut in_code = false;
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        if let Some(heading) = line.strip_prefix('#').map(|h| h.trim_start_matches('#')) {
            let base = slug(heading);
            let repeats: &mut usize = seen.entry(base.clone()).or_default();
            anchors.push(if *repeats == 0 { base } else { format!("{base}-{repeats}") });
            *repeats += 1;
        }
        links.extend(link.captures_iter(line).map(|c| (n + 1, c[1].to_string())));
    }
    (anchors, links)
}

#[test]
fn every_internal_link_leads_to_a_heading() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in &files {
        let (_, links) = anchors_and_links(&std::fs::read_to_string(file).unwrap());
        for (line, target) in links {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let linked = if path.is_empty() { file.clone() } else { file.parent().unwrap().join(path) };
            let place = format!("{}:{line}: {target}", file.strip_prefix(root).unwrap().display());
            checked += 1;
            if !linked.exists() {
                broken.push(format!("{place}: no such file"));
            } else if !anchor.is_empty() && linked.extension().is_some_and(|e| e == "md") {
                let (anchors, _) = anchors_and_links(&std::fs::read_to_string(&linked).unwrap());
                if !anchors.iter().any(|a| a == anchor) {
                    broken.push(format!("{place}: no such heading"));
                }
            }
        }
    }
    assert!(checked > 20, "only {checked} links found");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    assert_eq!(slug("14. Error codes"), "14-error-codes");
    assert_eq!(slug("Banning login guessers with fail2ban"), "banning-login-guessers-with-fail2ban");
}
