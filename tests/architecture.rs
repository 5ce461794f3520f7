//! The layout ARCHITECTURE.md describes, checked on the source text: module dependencies
//! point one way (down the layers), no vendor file reaches into another, the gateway
//! library never names the simulators, and files stay short enough to read at once.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `src/` modules from the bottom up; a module may use only modules of lower layers.
const LAYERS: [&[&str]; 13] = [
    &["hex"],
    &["model", "secret", "request_id", "files"],
    &["error", "metrics", "telemetry"],
    &["paging", "quota", "store"],
    &["shared"],
    &["upstream"],
    &["providers"],
    &["events"],
    &["config"],
    &["gateway"],
    &["export"],
    &["migrate"],
    &["api"],
];

/// Every vendor's name, from the registry.
fn vendors() -> Vec<&'static str> {
    creditgate::model::ProviderKind::ALL
        .iter()
        .map(|p| p.as_str())
        .collect()
}

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

/// A source file's module path: `src/gateway/writes/once.rs` is `["gateway", "writes",
/// "once"]`, `src/providers/mod.rs` is `["providers"]`.
fn module_path(relative: &str) -> Vec<String> {
    let inside = relative.strip_prefix("src/").unwrap().trim_end_matches(".rs");
    let mut path: Vec<String> = inside.split('/').map(str::to_owned).collect();
    if path.last().is_some_and(|p| p == "mod") {
        path.pop();
    }
    path
}

/// A Rust source reduced to the tokens a path is made of: identifiers (with `$crate`),
/// `::`, braces and commas; string literals are skipped, anything else is one token.
fn tokens(code: &str) -> Vec<String> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_alphanumeric() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '$') {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push("::".into());
            i += 2;
        } else if c.is_whitespace() {
            i += 1;
        } else {
            out.push(c.to_string());
            i += 1;
        }
    }
    out
}

/// Every module path a file names through `crate::`, `$crate::`, `self::` or `super::`
/// (any number of them), grouped imports (`use crate::{a, b::c}`) included, resolved
/// against `own`, the file's own module path (`["gateway", "writes", "once"]`).
fn named_paths(own: &[String], code: &str) -> Vec<Vec<String>> {
    let tokens = tokens(code);
    let mut found = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let at_start = i == 0 || tokens[i - 1] != "::";
        let mut base: Vec<String> = match tokens[i].as_str() {
            "crate" | "$crate" if at_start => Vec::new(),
            "self" if at_start && tokens.get(i + 1).is_some_and(|t| t == "::") => own.to_vec(),
            "super" if at_start => own[..own.len().saturating_sub(1)].to_vec(),
            _ => {
                i += 1;
                continue;
            }
        };
        i += 1;
        while tokens.get(i).is_some_and(|t| t == "::") && tokens.get(i + 1).is_some_and(|t| t == "super") {
            base.pop();
            i += 2;
        }
        if tokens.get(i).is_none_or(|t| t != "::") {
            continue;
        }
        i += 1;
        match tokens.get(i).map(String::as_str) {
            Some("{") => {
                // Each item of the group starts a path of its own.
                let mut depth = 0;
                let mut item_start = true;
                while let Some(t) = tokens.get(i) {
                    match t.as_str() {
                        "{" => {
                            depth += 1;
                            item_start = depth == 1;
                        }
                        "}" => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        "," if depth == 1 => item_start = true,
                        name if item_start && depth == 1 => {
                            item_start = false;
                            let mut path = base.clone();
                            if name != "self" {
                                path.push(name.to_owned());
                            }
                            found.push(path);
                        }
                        _ => {}
                    }
                    i += 1;
                }
            }
            Some(name) => {
                let mut path = base.clone();
                path.push(name.to_owned());
                // The rest of a plain path, so that a sub-module can be told from an item.
                while tokens.get(i + 1).is_some_and(|t| t == "::")
                    && tokens
                        .get(i + 2)
                        .is_some_and(|t| t.starts_with(|c: char| c.is_ascii_lowercase()))
                {
                    path.push(tokens[i + 2].clone());
                    i += 2;
                }
                found.push(path);
            }
            None => {}
        }
    }
    found
}

/// What breaks the layering in one file: a top-level module named that is not below the
/// file's own (`layer_of` gives each top-level module its layer).
fn layer_problems(layer_of: &BTreeMap<&str, usize>, relative: &str, code: &str) -> Vec<String> {
    let own = module_path(relative);
    let module = own[0].as_str();
    let Some(&own_layer) = layer_of.get(module) else {
        return vec![format!(
            "{relative}: module `{module}` has no layer in tests/architecture.rs"
        )];
    };
    let mut wrong = BTreeSet::new();
    for path in named_paths(&own, code) {
        let Some(used) = path.first().map(String::as_str) else {
            continue;
        };
        if used == module || !used.starts_with(|c: char| c.is_ascii_alphabetic()) {
            continue;
        }
        match layer_of.get(used) {
            Some(&layer) if layer < own_layer => {}
            Some(_) => {
                wrong.insert(format!("{relative}: `{module}` uses `{used}`, which is not below it"));
            }
            // Items re-exported at the crate root (`crate::Config`) and exported macros.
            None if used.starts_with(char::is_uppercase) || used == "vendor_enum" => {}
            None => {
                wrong.insert(format!("{relative}: uses unknown module `{used}`"));
            }
        }
    }
    wrong.into_iter().collect()
}

fn layer_of() -> BTreeMap<&'static str, usize> {
    LAYERS
        .iter()
        .enumerate()
        .flat_map(|(i, modules)| modules.iter().map(move |m| (*m, i)))
        .collect()
}

#[test]
fn dependencies_point_down_the_layers() {
    let layer_of = layer_of();
    let wrong: Vec<String> = library_sources()
        .iter()
        .flat_map(|(path, _, code)| layer_problems(&layer_of, path, code))
        .collect();
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

/// The layer check sees every form of path, shown on deliberate violations.
#[test]
fn grouped_super_and_macro_paths_are_checked_too() {
    let layer_of = layer_of();
    let file = "src/providers/stripe/writes.rs";
    for bad in [
        "use crate::{model::Money, gateway::Gateway};",
        "use crate::{\n    api,\n    model,\n};",
        "use super::super::super::gateway::Gateway;",
        "let x = $crate::gateway::Gateway::new();",
        "fn f() -> crate::migrate::Plan { todo!() }",
    ] {
        let problems = layer_problems(&layer_of, file, bad);
        assert_eq!(problems.len(), 1, "{bad}: {problems:?}");
    }
    for fine in [
        "use crate::{model::Money, upstream::CallScope};",
        "use super::super::base::VendorBase;",
        "use super::{Adapter, PROVIDER};",
        "let s = \"crate::gateway is only text\";",
    ] {
        assert_eq!(layer_problems(&layer_of, file, fine), Vec::<String>::new(), "{fine}");
    }
}

/// The file a resolved path lands in: the longest prefix of it that is a module of `src/`.
fn module_file(path: &[String]) -> Option<Vec<String>> {
    (1..=path.len()).rev().map(|n| path[..n].to_vec()).find(|prefix| {
        let dir = root().join("src").join(prefix.join("/"));
        dir.with_extension("rs").is_file() || dir.join("mod.rs").is_file()
    })
}

#[test]
fn no_import_cycle_between_files() {
    // file → files it names, leaving out its own ancestors and descendants (a parent
    // declares and re-exports its children; a child uses what its parent shares).
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (path, _, code) in library_sources() {
        let own = module_path(&path);
        let named = edges.entry(own.clone()).or_default();
        for target in named_paths(&own, &code).iter().filter_map(|p| module_file(p)) {
            let related = target.starts_with(&own) || own.starts_with(&target);
            if !related {
                named.insert(target);
            }
        }
    }
    let mut cycles = Vec::new();
    for (from, targets) in &edges {
        for to in targets {
            if from < to
                && edges
                    .get(to)
                    .is_some_and(|back| reaches(&edges, back, from, &mut BTreeSet::new()))
            {
                cycles.push(format!("{} <-> {}", from.join("::"), to.join("::")));
            }
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

/// Whether any of `start` reaches `goal` along `edges`.
fn reaches(
    edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
    start: &BTreeSet<Vec<String>>,
    goal: &[String],
    seen: &mut BTreeSet<Vec<String>>,
) -> bool {
    start.iter().any(|node| {
        node.as_slice() == goal
            || (seen.insert(node.clone()) && edges.get(node).is_some_and(|next| reaches(edges, next, goal, seen)))
    })
}

#[test]
fn a_vendor_file_holds_only_its_own_dialect() {
    let vendors = vendors();
    for &vendor in &vendors {
        let mut files = Vec::new();
        rust_files(&root().join(format!("src/providers/{vendor}")), &mut files);
        assert!(files.len() >= 2, "{vendor}: expected its reads (mod.rs) and its writes");
        for path in files {
            let text = std::fs::read_to_string(&path).unwrap();
            // Writes go through `VendorBase::write_once`, which records their outcome.
            assert!(
                !text.contains("client.write("),
                "{}: writes around VendorBase::write_once",
                path.display()
            );
            for other in vendors.iter().filter(|v| **v != vendor) {
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
    // The tests too: a test file is read like a source file.
    rust_files(&root().join("tests"), &mut files);
    rust_files(&root().join("simulator/tests"), &mut files);
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
