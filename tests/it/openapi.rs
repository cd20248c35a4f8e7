//! docs/openapi.yaml is a valid OpenAPI 3.x document, as Python's `openapi-spec-validator`
//! judges it; no mapping in it has a key twice (YAML keeps the last one silently); and every
//! schema in it uses only JSON Schema and OpenAPI keywords (a YAML flow mapping with a comma in
//! its description silently grows a key the validator allows).
//!
//! The interpreter is `AFFILIATED_OPENAPI_PYTHON` when set (`.ci/run` sets it to the venv it
//! makes under `target/openapi-venv` with the pinned validator), else `python3` on `PATH`. One
//! that cannot `import openapi_spec_validator` makes the test skip (fail in CI).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::systemd::skip;

/// The document the server serves (`include_str!` in `src/endpoints/health.rs`).
fn document() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.yaml")
}

/// The first interpreter that has the validator.
fn python() -> Option<String> {
    let mut candidates: Vec<String> = std::env::var("AFFILIATED_OPENAPI_PYTHON").into_iter().collect();
    candidates.push("python3".into());
    candidates.into_iter().find(|p| {
        Command::new(p).args(["-c", "import openapi_spec_validator"]).output().is_ok_and(|o| o.status.success())
    })
}

/// Runs the validator's command line on `file`: whether it passed, and what it printed.
fn validate(python: &str, file: &Path) -> (bool, String) {
    let out = Command::new(python)
        .args(["-m", "openapi_spec_validator", "--validation-errors", "all"])
        .arg(file)
        .output()
        .unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Reads the document refusing duplicate keys, then walks every Schema Object (components,
/// parameters, headers, media types, and the schemas inside them) and prints each key that is no
/// keyword, one per line.
const STRAY_KEYS: &str = r#"
import sys, yaml
KEYWORDS = set('''$schema $id $ref $anchor $dynamicRef $dynamicAnchor $vocabulary $comment $defs
type enum const multipleOf maximum exclusiveMaximum minimum exclusiveMinimum maxLength minLength
pattern maxItems minItems uniqueItems maxContains minContains maxProperties minProperties required
dependentRequired format contentEncoding contentMediaType contentSchema title description default
deprecated readOnly writeOnly examples example allOf anyOf oneOf not if then else dependentSchemas
prefixItems items contains properties patternProperties additionalProperties propertyNames
unevaluatedItems unevaluatedProperties discriminator xml externalDocs'''.split())
MAPS = ('properties', 'patternProperties', '$defs', 'dependentSchemas')
ONE = ('items', 'additionalProperties', 'not', 'if', 'then', 'else', 'contains', 'propertyNames',
       'unevaluatedItems', 'unevaluatedProperties', 'contentSchema')
LISTS = ('allOf', 'anyOf', 'oneOf', 'prefixItems')
found = []
def schema(s, at):
    if not isinstance(s, dict):
        return
    for k, v in s.items():
        if k not in KEYWORDS and not k.startswith('x-'):
            found.append(f'{at}: {k!r}')
        if k in MAPS and isinstance(v, dict):
            for name, sub in v.items():
                schema(sub, f'{at}/{k}/{name}')
        elif k in ONE:
            schema(v, f'{at}/{k}')
        elif k in LISTS and isinstance(v, list):
            for i, sub in enumerate(v):
                schema(sub, f'{at}/{k}/{i}')
def walk(node, at):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == 'schema':
                schema(v, f'{at}/schema')
            elif k != 'example' and k != 'examples':
                walk(v, f'{at}/{k}')
    elif isinstance(node, list):
        for i, v in enumerate(node):
            walk(v, f'{at}/{i}')
class Strict(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):
        keys = [self.construct_object(k, deep=deep) for k, _ in node.value]
        for k in keys:
            if keys.count(k) > 1:
                found.append(f'line {node.start_mark.line + 1}: {k!r} twice')
                break
        return super().construct_mapping(node, deep=deep)
doc = yaml.load(open(sys.argv[1], encoding='utf-8'), Loader=Strict)
for name, s in doc.get('components', {}).get('schemas', {}).items():
    schema(s, f'#/components/schemas/{name}')
walk(doc.get('paths', {}), '#/paths')
walk({k: v for k, v in doc.get('components', {}).items() if k != 'schemas'}, '#/components')
print('\n'.join(found))
"#;

fn stray_keys(python: &str, file: &Path, dir: &Path) -> String {
    let script = dir.join("stray_keys.py");
    std::fs::write(&script, STRAY_KEYS).unwrap();
    let out = Command::new(python).arg(&script).arg(file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn the_openapi_document_is_valid_openapi() {
    let Some(python) = python() else {
        skip("no Python with `openapi-spec-validator` (set AFFILIATED_OPENAPI_PYTHON, or run .ci/run)");
        return;
    };
    let (ok, text) = validate(&python, &document());
    assert!(ok && text.contains(": OK"), "docs/openapi.yaml is not valid OpenAPI:\n{text}");
    let dir = tempfile::tempdir().unwrap();
    let stray = stray_keys(&python, &document(), dir.path());
    assert!(stray.is_empty(), "docs/openapi.yaml has duplicate keys or schema keys that are no keyword:\n{stray}");

    // The checks can fail: an undeclared path parameter, a description cut at its comma, a key
    // given twice.
    let spec = std::fs::read_to_string(document()).unwrap();
    let broken = dir.path().join("broken.yaml");
    let undeclared =
        "\npaths:\n  /broken/{id}:\n    get:\n      responses:\n        '204':\n          description: none\n";
    std::fs::write(&broken, spec.replacen("\npaths:\n", undeclared, 1)).unwrap();
    let (ok, text) = validate(&python, &broken);
    assert!(!ok && text.contains("Path parameter 'id'"), "{text}");
    let cut = "\n  schemas:\n    Cut: {type: string, description: one, two.}\n";
    std::fs::write(&broken, spec.replacen("\n  schemas:\n", cut, 1)).unwrap();
    assert_eq!(stray_keys(&python, &broken, dir.path()), "#/components/schemas/Cut: 'two.'");
    let twice = "\n  schemas:\n    Twice:\n      type: string\n      type: integer\n";
    std::fs::write(&broken, spec.replacen("\n  schemas:\n", twice, 1)).unwrap();
    assert!(stray_keys(&python, &broken, dir.path()).ends_with(": 'type' twice"));
}
