//! The layout ARCHITECTURE.md describes, checked on the source text: module dependencies
//! point one way (down the layers), no vendor file reaches into another, the gateway
//! library never names the simulators, and files stay short enough to read at once.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `src/` modules from the bottom up; a module may use only modules of lower layers.
const LAYERS: [&[&str]; 10] = [
    &["model", "secret", "request_id", "files"],
    &["error", "metrics"],
    &["paging", "quota", "store"],
    &["shared"],
    &["upstream"],
    &["providers"],
    &["config"],
    &["gateway"],
    &["export"],
    &["api", "migrate"],
];

const VENDORS: [&str; 5] = ["stripe", "metronome", "sequence", "togai", "vayu"];

/// Longest a source file may be unless ARCHITECTURE.md names it with its reason.
const MAX_LINES: usize = 450;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/` files as (path relative to the root, top-level module, text before any test module).
fn library_sources() -> Vec<(String, String, String)> {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    files
        .into_iter()
        .filter_map(|path| {
            let relative = path.strip_prefix(root()).unwrap().to_string_lossy().replace('\\', "/");
            let inside_src = relative.strip_prefix("src/").unwrap();
            let module = inside_src.split('/').next().unwrap().trim_end_matches(".rs").to_owned();
            if module == "lib" || module == "cli" {
                return None;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = match text.find("#[cfg(test)]") {
                Some(i) => text[..i].to_owned(),
                None => text,
            };
            Some((relative, module, code))
        })
        .collect()
}

/// The top-level modules a piece of code names as `crate::<module>`.
fn crate_modules(code: &str) -> BTreeSet<String> {
    code.match_indices("crate::")
        .map(|(i, m)| {
            code[i + m.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .collect()
}

#[test]
fn dependencies_point_down_the_layers() {
    let layer_of: BTreeMap<&str, usize> = LAYERS
        .iter()
        .enumerate()
        .flat_map(|(i, modules)| modules.iter().map(move |m| (*m, i)))
        .collect();
    let mut wrong = Vec::new();
    for (path, module, code) in library_sources() {
        let Some(&own) = layer_of.get(module.as_str()) else {
            wrong.push(format!(
                "{path}: module `{module}` has no layer in tests/architecture.rs"
            ));
            continue;
        };
        for used in crate_modules(&code) {
            if used == module {
                continue;
            }
            match layer_of.get(used.as_str()) {
                Some(&layer) if layer < own => {}
                Some(_) => wrong.push(format!("{path}: `{module}` uses `{used}`, which is not below it")),
                // Items re-exported at the crate root (`crate::Config`) and macros.
                None if used.starts_with(char::is_uppercase) || used == "vendor_enum" => {}
                None => wrong.push(format!("{path}: uses unknown module `{used}`")),
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

#[test]
fn a_vendor_file_holds_only_its_own_dialect() {
    for vendor in VENDORS {
        let mut files = Vec::new();
        rust_files(&root().join(format!("src/providers/{vendor}")), &mut files);
        assert!(files.len() >= 2, "{vendor}: expected its reads (mod.rs) and its writes");
        for path in files {
            let text = std::fs::read_to_string(&path).unwrap();
            for other in VENDORS.iter().filter(|v| **v != vendor) {
                for reach in [format!("super::{other}"), format!("providers::{other}")] {
                    assert!(
                        !text.contains(&reach),
                        "{}: reaches into {other}: `{reach}`",
                        path.display()
                    );
                }
            }
        }
    }
}

#[test]
fn the_gateway_library_holds_no_simulator() {
    for (path, _, code) in library_sources() {
        assert!(!code.contains("creditgate_sim"), "{path} names the simulators");
    }
}

#[test]
fn long_files_are_named_in_architecture_md_with_a_reason() {
    let doc = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let section = doc
        .split("## Files over 450 lines")
        .nth(1)
        .expect("ARCHITECTURE.md has a `## Files over 450 lines` section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    rust_files(&root().join("simulator/src"), &mut files);
    for path in files {
        let relative = path.strip_prefix(root()).unwrap().to_string_lossy().replace('\\', "/");
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        if lines > MAX_LINES {
            assert!(
                section.contains(&format!("`{relative}`")),
                "{relative} has {lines} lines: shorten it, or say why in ARCHITECTURE.md"
            );
        }
    }
}

#[test]
fn the_code_cites_only_documents_in_the_repository() {
    for (path, _, code) in library_sources() {
        assert!(
            !code.contains("DESIGN §"),
            "{path} cites a document outside the repository"
        );
    }
}
