//! The core's layering, checked over its sources: the sub-machine modules (runner, actor,
//! tunnel, hibernation, store operations, …) import each other without cycles and never name
//! `Gateway`; only `gateway/` sees the whole gateway and routes between them. Only `link/`'s
//! mapping modules name a protocol version's messages.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// Top-level module → the top-level modules its code names with `crate::…` (test code and the
/// testkit excluded: they may look at everything).
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for Source { module, text, .. } in sources(&src) {
        let deps = graph.entry(module.clone()).or_default();
        for (at, _) in text.match_indices("crate::") {
            let name: String = text[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() && name != module {
                deps.insert(name);
            }
        }
    }
    graph
}

/// One source file of the core (outside its tests and the testkit).
struct Source {
    /// The top-level module it belongs to.
    module: String,
    /// Its path under `src/`, with `/` separators.
    path: String,
    /// Its text without its `#[cfg(test)] mod tests`.
    text: String,
}

fn sources(src: &Path) -> Vec<Source> {
    let mut out = Vec::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let rel = path.strip_prefix(src).unwrap();
            let first = rel.components().next().unwrap().as_os_str();
            let module = first.to_string_lossy().trim_end_matches(".rs").to_owned();
            if ["lib", "tests", "testkit"].contains(&module.as_str()) {
                continue;
            }
            let text = fs::read_to_string(&path).unwrap();
            let text = match text.find("#[cfg(test)]\nmod tests {") {
                Some(at) => text[..at].to_owned(),
                None => text,
            };
            let path = rel.to_string_lossy().replace('\\', "/");
            out.push(Source { module, path, text });
        }
    }
    out
}

/// A cycle through `start`, if any (depth-first over the graph).
fn cycle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    fn walk(
        graph: &BTreeMap<String, BTreeSet<String>>,
        start: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        let here = path.last().unwrap().clone();
        for next in graph.get(&here).into_iter().flatten() {
            if next == start {
                path.push(next.clone());
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(graph, start, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_owned()];
    walk(graph, start, &mut path, &mut BTreeSet::new()).then_some(path)
}

#[test]
fn core_modules_import_each_other_without_cycles() {
    let graph = module_graph();
    assert!(graph.len() > 10, "the sources were not found: {graph:?}");
    for module in graph.keys() {
        if let Some(cycle) = cycle_from(&graph, module) {
            panic!("import cycle: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn only_the_gateway_layer_names_the_gateway() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let offenders: BTreeSet<String> = sources(&src)
        .into_iter()
        .filter(|s| {
            s.module != "gateway"
                && (s.text.contains("impl Gateway") || s.text.contains("Gateway;"))
        })
        .map(|s| s.module)
        .collect();
    assert!(
        offenders.is_empty(),
        "modules naming Gateway: {offenders:?}"
    );
}

/// A second protocol is a codec plus a mapping: the rest of the core speaks the link's
/// vocabulary and the shared payload types, never a version's messages.
#[test]
fn only_link_mappings_name_a_protocol_version() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let sources = sources(&src);
    let named: BTreeMap<String, &str> = sources
        .iter()
        .filter_map(|s| {
            let version = ["torpor_protocol::v7", "torpor_protocol::v8"]
                .into_iter()
                .find(|v| s.text.contains(v))?;
            Some((s.path.clone(), version))
        })
        .collect();
    let expected: BTreeMap<String, &str> = [
        ("link/v7.rs".to_owned(), "torpor_protocol::v7"),
        ("link/v8.rs".to_owned(), "torpor_protocol::v8"),
    ]
    .into();
    assert_eq!(named, expected);
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    graph.entry("a".into()).or_default().insert("b".into());
    graph.entry("b".into()).or_default().insert("c".into());
    graph.entry("c".into()).or_default().insert("a".into());
    assert_eq!(
        cycle_from(&graph, "a"),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    graph.get_mut("c").unwrap().clear();
    assert_eq!(cycle_from(&graph, "a"), None);
}
