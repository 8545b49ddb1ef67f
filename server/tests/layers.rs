//! The layering ARCHITECTURE.md draws, checked on the source: no module below the HTTP API
//! imports it or uses axum, the server's top-level modules import each other without a
//! circle, and the core stays free of I/O crates.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `path` (or `path` itself), with its text.
fn sources(path: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .expect("read the folder")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for p in entries {
            out.extend(sources(&p));
        }
    } else if path.extension().is_some_and(|x| x == "rs") {
        let text = std::fs::read_to_string(path).expect("read the file");
        out.push((path.to_path_buf(), text));
    }
    out
}

/// The server's top-level modules (a file or a folder in `src/`), by name.
fn modules() -> BTreeMap<String, Vec<(PathBuf, String)>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(src()).expect("src").flatten() {
        let path = entry.path();
        let name = path
            .file_stem()
            .and_then(|n| n.to_str())
            .expect("a name")
            .to_string();
        if path.is_dir() || path.extension().is_some_and(|x| x == "rs") {
            out.entry(name)
                .or_insert_with(Vec::new)
                .extend(sources(&path));
        }
    }
    out
}

/// The top-level modules a module's code names (`crate::x`), itself left out.
fn imports(name: &str, files: &[(PathBuf, String)], known: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (_, text) in files {
        for (i, _) in text.match_indices("crate::") {
            let rest = &text[i + "crate::".len()..];
            let word: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if word != name && known.contains(&word) {
                out.insert(word);
            }
        }
    }
    out
}

/// Where the HTTP surface is: the API and the two files that wire the server together.
const HTTP: [&str; 3] = ["api", "lib", "main"];

#[test]
fn nothing_below_the_api_imports_it_or_uses_http_types() {
    for (name, files) in modules() {
        if HTTP.contains(&name.as_str()) {
            continue;
        }
        for (path, text) in &files {
            for forbidden in ["crate::api", "axum"] {
                assert!(
                    !text.contains(forbidden),
                    "{} (module {name}) names {forbidden}: only the HTTP API may",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn the_servers_modules_import_each_other_without_a_circle() {
    let modules = modules();
    let known: BTreeSet<String> = modules.keys().cloned().collect();
    let graph: BTreeMap<String, BTreeSet<String>> = modules
        .iter()
        .filter(|(name, _)| !["lib", "main"].contains(&name.as_str()))
        .map(|(name, files)| (name.clone(), imports(name, files, &known)))
        .collect();
    // Depth-first search for a path back to where it started.
    fn reaches(
        graph: &BTreeMap<String, BTreeSet<String>>,
        from: &str,
        target: &str,
        seen: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> bool {
        for next in graph.get(from).into_iter().flatten() {
            path.push(next.clone());
            if next == target {
                return true;
            }
            if seen.insert(next.clone()) && reaches(graph, next, target, seen, path) {
                return true;
            }
            path.pop();
        }
        false
    }
    for name in graph.keys() {
        let mut path = vec![name.clone()];
        assert!(
            !reaches(&graph, name, name, &mut BTreeSet::new(), &mut path),
            "an import circle: {}",
            path.join(" -> ")
        );
    }
    // And the circle this check exists for is not there.
    assert!(
        !graph["auth"].contains("api"),
        "auth answers in its own error"
    );
}

/// The API's modules every handler module may use: the state and router (`mod.rs`), errors,
/// request reading, what handlers share, and the image's JSON.
const API_SHARED: [&str; 5] = ["AppState", "error", "extract", "shared", "wire"];

#[test]
fn api_handler_modules_use_only_the_shared_ones() {
    let api = src().join("api");
    for (path, text) in sources(&api) {
        let name = path
            .file_stem()
            .and_then(|n| n.to_str())
            .expect("a name")
            .to_string();
        // `mod.rs` routes, `ui.rs` puts the UI's files around the routes.
        if ["mod", "ui"].contains(&name.as_str()) || API_SHARED.contains(&name.as_str()) {
            continue;
        }
        for (i, _) in text.match_indices("super::") {
            let word: String = text[i + "super::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '{')
                .collect();
            let used: Vec<String> = match word.strip_suffix('{').or(word.strip_prefix('{')) {
                // `super::{AppState, RequestId}`: each name of the group.
                Some(_) => text[i + "super::{".len()..]
                    .split('}')
                    .next()
                    .unwrap_or_default()
                    .split(',')
                    .map(|w| w.trim().split("::").next().unwrap_or_default().to_string())
                    .collect(),
                None => vec![word],
            };
            for used in used.iter().filter(|u| !u.is_empty()) {
                assert!(
                    API_SHARED.contains(&used.as_str()) || used == "RequestId",
                    "{} uses super::{used}: a handler module uses only {API_SHARED:?}",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn the_core_depends_on_no_io_crate() {
    let manifest = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("core")
            .join("Cargo.toml"),
    )
    .expect("core's manifest");
    let dependencies: Vec<&str> = manifest
        .split("[dependencies]")
        .nth(1)
        .expect("a dependencies table")
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with('['))
        .filter_map(|l| l.split(['.', '=', ' ']).next())
        .filter(|n| !n.is_empty())
        .collect();
    assert_eq!(
        dependencies,
        ["serde", "serde_json", "thiserror", "regex-lite"],
        "glint-core is pure: no I/O, async or HTTP crate"
    );
}

/// Access is decided in one place: outside `access.rs`, the server asks no caller for its
/// roles; every decision goes through the policy rules there.
#[test]
fn roles_are_read_only_by_access() {
    let mut found = Vec::new();
    for (path, text) in sources(&src()) {
        if path.ends_with("access.rs") {
            continue;
        }
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for needle in [".is_admin()", ".has_role(", ".may_create()"] {
            if code.contains(needle) {
                found.push(format!("{} uses {needle}", path.display()));
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}
