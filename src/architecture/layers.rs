//! Who may import whom. Every top-level module of the crate (a folder under `src/`, or a file
//! beside them) stands in one layer of [`LAYERS`], and every path of the program's code
//! (`crate::…`, `$crate::…`, `super::…` leaving its module's folder, `affiliated::…` in
//! `main.rs`) may reach only its own layer or one below. Besides:
//! - no import circles between top-level modules, whatever their layers;
//! - the modules of a layer marked apart never import one another (the web areas are siblings;
//!   the store and the transport stand beside each other);
//! - tiny_http is named only in `src/transport/`, and the transport imports no web area.
//!
//! ARCHITECTURE.md shows the same table ("Layers"); a test keeps the two equal. Test code (test
//! modules, files that are tests) is not the program and may import what it needs.

use std::collections::{BTreeMap, BTreeSet};

use super::source::{lex, lex_whole, names, root, sources, test_only};

/// A layer: its name, its modules, and whether they must not import one another.
pub struct Layer {
    pub name: &'static str,
    pub modules: &'static [&'static str],
    pub apart: bool,
}

const fn layer(name: &'static str, modules: &'static [&'static str], apart: bool) -> Layer {
    Layer { name, modules, apart }
}

/// The layers, lowest first. A module may import its own layer and the ones before it.
pub const LAYERS: &[Layer] = &[
    layer("base", &["alloc", "error", "metrics", "password", "secret", "systemd"], false),
    layer("domain", &["tracking"], false),
    layer("values", &["clock", "shapes"], false),
    layer("adapters", &["store", "transport"], true),
    layer("settings", &["config", "logging", "statements"], false),
    layer("writes", &["intake", "outbox", "sweeper"], false),
    layer("web kit", &["ui", "web"], false),
    layer("areas", &["admin", "api", "endpoints", "portal"], true),
    layer("routes", &["routes"], false),
    layer("program", &["cli", "main", "lib"], false),
];

/// The modules that are not the program: the tests that read it.
const TESTS: &[&str] = &["architecture"];

/// The web areas and what serves them, which the transport must never import.
const WEB: &[&str] = &["web", "ui", "admin", "api", "endpoints", "portal", "routes"];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.modules.contains(&module))
}

/// The top-level module a file belongs to: `src/store/keys.rs` is `store`, `src/clock.rs` is
/// `clock`.
fn top_module(file: &str) -> &str {
    let rest = file.strip_prefix("src/").unwrap_or(file);
    let first = rest.split('/').next().unwrap_or(rest);
    first.strip_suffix(".rs").unwrap_or(first)
}

/// The module path of a file (`src/store/ledger/mod.rs` is `store::ledger`).
fn module_path(file: &str) -> Vec<String> {
    let stem = file.strip_prefix("src/").unwrap_or(file).strip_suffix(".rs").unwrap_or(file);
    let mut parts: Vec<String> = stem.split('/').map(String::from).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

fn ident_at(code: &str, at: usize) -> String {
    code[at..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
}

/// The first identifiers after `at`: one, or each of a `{…}` group's elements.
fn heads_at(code: &str, at: usize) -> Vec<String> {
    let rest = code[at..].trim_start();
    let Some(group) = rest.strip_prefix('{') else {
        return vec![ident_at(code, code.len() - rest.len())];
    };
    let mut depth = 1;
    let end = group
        .char_indices()
        .find_map(|(i, c)| {
            depth += match c {
                '{' => 1,
                '}' => -1,
                _ => 0,
            };
            (depth == 0).then_some(i)
        })
        .unwrap_or(group.len());
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut element = String::new();
    for c in group[..end].chars().chain([',']) {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                let head: String = element.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                heads.push(head);
                element.clear();
                continue;
            }
            _ => {}
        }
        element.push(c);
    }
    heads.into_iter().filter(|h| !h.is_empty()).collect()
}

/// The top-level modules `code` (a file's program code) reaches: through `crate::`,
/// `$crate::`, `affiliated::` (the binary's name for the library), and `super::` chains that
/// leave the file's top-level module.
pub fn imports(file: &str, code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let bytes = code.as_bytes();
    for prefix in ["crate::", "affiliated::"] {
        for (at, _) in code.match_indices(prefix) {
            let before = at.checked_sub(1).map(|i| bytes[i]);
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':') {
                continue;
            }
            if prefix == "affiliated::" && file != "src/main.rs" {
                continue; // the crate's name in a log target or a string of its own
            }
            found.extend(heads_at(code, at + prefix.len()));
        }
    }
    let depth = module_path(file).len();
    for (at, _) in code.match_indices("super::") {
        let before = at.checked_sub(1).map(|i| bytes[i]);
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':') {
            continue;
        }
        let mut end = at;
        let mut ups = 0;
        while code[end..].starts_with("super::") {
            ups += 1;
            end += "super::".len();
        }
        if ups >= depth {
            found.extend(heads_at(code, end));
        }
    }
    found.retain(|m| !m.is_empty() && m != "self" && m != "super" && m != top_module(file));
    found
}

/// The program's files (tests left out) with the top-level modules each one imports.
fn program_imports() -> Vec<(String, BTreeSet<String>)> {
    let all = sources();
    let tests = test_only(&all);
    all.iter()
        .filter(|(file, _)| !tests.contains(file) && !TESTS.contains(&top_module(file)))
        .map(|(file, text)| (file.clone(), imports(file, &lex(text).code)))
        .collect()
}

#[test]
fn every_module_stands_in_one_layer() {
    let mut offences = Vec::new();
    let mut seen = BTreeSet::new();
    for (file, _) in sources() {
        let module = top_module(&file).to_string();
        if TESTS.contains(&module.as_str()) {
            continue;
        }
        if layer_of(&module).is_none() && seen.insert(module.clone()) {
            offences.push(format!("{file}: `{module}` stands in no layer of LAYERS"));
        }
    }
    for (i, l) in LAYERS.iter().enumerate() {
        for m in l.modules {
            assert_eq!(layer_of(m), Some(i), "`{m}` stands in two layers");
        }
    }
    assert!(offences.is_empty(), "{}", offences.join("\n"));
}

#[test]
fn no_module_imports_from_a_layer_above_its_own() {
    let mut offences = Vec::new();
    let mut edges = 0;
    for (file, imported) in program_imports() {
        let from = top_module(&file);
        let Some(own) = layer_of(from) else { continue };
        for module in &imported {
            edges += 1;
            match layer_of(module) {
                Some(layer) if layer > own => offences.push(format!(
                    "{file} ({}) imports `{module}` ({}), a layer above its own",
                    LAYERS[own].name, LAYERS[layer].name
                )),
                Some(layer) if layer == own && LAYERS[own].apart => offences
                    .push(format!("{file} imports `{module}`: the modules of layer {} stand apart", LAYERS[own].name)),
                Some(_) => {}
                None => offences.push(format!("{file} imports `{module}`, which stands in no layer")),
            }
        }
    }
    assert!(edges > 200, "only {edges} imports found: is the reader of the source broken?");
    assert!(offences.is_empty(), "{}", offences.join("\n"));
}

#[test]
fn no_import_circles_between_folders() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, imported) in program_imports() {
        graph.entry(top_module(&file).to_string()).or_default().extend(imported);
    }
    let circles = circles(&graph);
    assert!(circles.is_empty(), "import circles:\n{}", circles.join("\n"));
}

/// Every circle of `graph` (`a → b → a`), each once.
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        found: &mut Vec<String>,
    ) {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut circle = path[at..].to_vec();
            circle.push(node.to_string());
            found.push(circle.join(" → "));
            return;
        }
        if done.contains(node) {
            return;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            visit(next, graph, path, done, found);
        }
        path.pop();
        done.insert(node.to_string());
    }
    let (mut done, mut found) = (BTreeSet::new(), Vec::new());
    for node in graph.keys() {
        visit(node, graph, &mut Vec::new(), &mut done, &mut found);
    }
    found
}

#[test]
fn tiny_http_is_named_only_in_the_transport() {
    let mut offences = Vec::new();
    let mut named = 0;
    for (file, text) in sources() {
        if !names(&lex_whole(&text).code, "tiny_http") {
            continue;
        }
        named += 1;
        if !file.starts_with("src/transport/") {
            offences.push(format!("{file} names tiny_http: only src/transport/ may"));
        }
    }
    assert!(named >= 5, "tiny_http found in only {named} files: is the reader of the source broken?");
    assert!(offences.is_empty(), "{}", offences.join("\n"));
}

#[test]
fn the_transport_imports_no_web_area() {
    let mut offences = Vec::new();
    for (file, imported) in program_imports() {
        if top_module(&file) != "transport" {
            continue;
        }
        for module in imported.iter().filter(|m| WEB.contains(&m.as_str())) {
            offences.push(format!("{file} imports `{module}`: the transport serves a site it does not know"));
        }
    }
    assert!(offences.is_empty(), "{}", offences.join("\n"));
}

/// ARCHITECTURE.md's table of layers: (layer, modules, what it may import) per row, in order.
fn documented_layers() -> Vec<(String, Vec<String>, String)> {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let section = text.split("\n### Layers\n").nth(1).expect("ARCHITECTURE.md has a section ### Layers");
    let table = section.split("\n\n").find(|block| block.trim_start().starts_with('|')).expect("a table of layers");
    table
        .lines()
        .skip(2)
        .map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let modules = cells[3]
                .split(',')
                .map(|m| m.trim().trim_matches('`').trim_end_matches('/').trim_end_matches(".rs").to_string())
                .collect();
            (cells[2].to_string(), modules, cells[4].to_string())
        })
        .collect()
}

/// What a layer may import, in the table's words: the layers below it, then whether its modules
/// may import one another.
fn may_import(index: usize) -> String {
    let below: Vec<&str> = LAYERS[..index].iter().map(|l| l.name).collect();
    let own = match (LAYERS[index].modules.len(), LAYERS[index].apart) {
        (1, _) => None,
        (_, true) => Some("not one another"),
        (_, false) => Some("one another"),
    };
    match (below.is_empty(), own) {
        (true, Some(own)) => own.to_string(),
        (_, None) => below.join(", "),
        (false, Some(own)) => format!("{}; {own}", below.join(", ")),
    }
}

#[test]
fn architecture_md_shows_the_same_layers() {
    let documented = documented_layers();
    let declared: Vec<(String, Vec<String>, String)> = LAYERS
        .iter()
        .enumerate()
        .map(|(i, l)| (l.name.to_string(), l.modules.iter().map(|m| m.to_string()).collect(), may_import(i)))
        .collect();
    assert_eq!(documented, declared, "ARCHITECTURE.md's table of layers and architecture/layers.rs disagree");
}

#[test]
fn the_reader_of_imports_sees_every_kind_of_path() {
    let code = "use crate::store::keys;\nuse crate::{admin, portal::x};\nlet a = $crate::ui::html::f();\n\
                use super::super::web::Ctx;\nuse super::sibling;\nfn f(x: crate ::y) {}\nmy_crate::z();";
    let found = imports("src/api/offers.rs", code);
    assert_eq!(found, ["admin", "portal", "store", "ui", "web"].map(String::from).into());
    assert_eq!(imports("src/main.rs", "use affiliated::{alloc, cli};"), ["alloc", "cli"].map(String::from).into());
    assert!(imports("src/web/x.rs", "log::info!(target: \"affiliated::access\", \"\")").is_empty());
    let mut graph = BTreeMap::new();
    graph.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    graph.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(circles(&graph), ["a → b → a"]);
}
