//! The crate's shape, checked: dependencies between `src/` modules point one way (no import
//! cycle), the pure engine knows nothing of the wire, and `docs/protocol.md` names every
//! message type, error code and close code `src/protocol.rs` has.
//!
//! Reads the source as text: a module depends on another when its code (comments aside) names
//! `crate::other`, or `super::…` inside a folder module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use brainwrite::protocol::{ClientMsg, ErrorCode, ServerMsg, close};
use strum::{VariantArray, VariantNames};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read src") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// A file's code without its comments (line comments, doc comments included).
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read source");
    text.lines()
        .map(|l| match l.find("//") {
            // Not inside a string on the lines that matter here: `use` and paths.
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The module path of a file below `src/`: `room_task/session.rs` → `room_task::session`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if parts
        .last()
        .is_some_and(|p| p == "mod" || p == "lib" || p == "main")
    {
        parts.pop();
    }
    parts
}

/// The names following `prefix` in `code`: `crate::room::view` → `["room", "view"]`.
fn paths_after<'a>(code: &'a str, prefix: &str) -> Vec<Vec<&'a str>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().last();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let path: Vec<&str> = rest
            .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .next()
            .unwrap_or("")
            .split("::")
            .take_while(|s| !s.is_empty())
            .collect();
        out.push(path);
    }
    out
}

/// Edges between the modules of `src/`, at the depth given: 1 for top-level modules.
fn graph(depth: usize) -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(ROOT).join("src");
    let files = rust_files(&src);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(&src, f)).collect();
    let cut = |m: &[String]| m.iter().take(depth).cloned().collect::<Vec<_>>().join("::");
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let me = module_of(&src, file);
        if me.is_empty() || me[0] == "main" {
            continue; // lib.rs and main.rs sit above every module
        }
        let code = code_of(file);
        let mut targets: Vec<Vec<String>> = paths_after(&code, "crate::")
            .into_iter()
            .map(|p| p.iter().map(|s| s.to_string()).collect())
            .collect();
        // `super::x` in a module `a::b` (a file of a folder) means `a::x`.
        for p in paths_after(&code, "super::") {
            let mut base = me.clone();
            base.pop();
            base.extend(p.iter().map(|s| s.to_string()));
            targets.push(base);
        }
        let from = cut(&me);
        for t in targets {
            // The longest prefix that is a module: `room::view::RoomView` → `room::view`.
            let Some(m) = (1..=t.len())
                .rev()
                .map(|n| t[..n].to_vec())
                .find(|p| modules.contains(p))
            else {
                continue;
            };
            let to = cut(&m);
            // At depth 1 a child naming its own folder module's items stays inside it.
            if to != from {
                g.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    g
}

/// A cycle in `g`, if there is one, as the modules along it.
fn find_cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(2) => return None,
            Some(1) => {
                let at = path.iter().position(|p| p == n).unwrap_or(0);
                let mut cycle = path[at..].to_vec();
                cycle.push(n.to_owned());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(n.to_owned(), 1);
        path.push(n.to_owned());
        for m in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, g, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state.insert(n.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in g.keys() {
        if let Some(c) = visit(n, g, &mut state, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_import_cycle_between_the_crates_modules() {
    let g = graph(1);
    assert!(g.contains_key("ws"), "the graph was read: {g:?}");
    if let Some(cycle) = find_cycle(&g) {
        panic!("import cycle: {}\n{g:#?}", cycle.join(" → "));
    }
}

#[test]
fn no_import_cycle_inside_the_actor() {
    // Inside `room_task`, the loop uses the session and never the other way.
    let g = graph(2);
    let inner: BTreeMap<_, _> = g
        .into_iter()
        .filter(|(k, _)| k.starts_with("room_task"))
        .map(|(k, v)| {
            (
                k,
                v.into_iter()
                    .filter(|m| m.starts_with("room_task"))
                    .collect(),
            )
        })
        .collect();
    if let Some(cycle) = find_cycle(&inner) {
        panic!("import cycle in the actor: {}", cycle.join(" → "));
    }
}

#[test]
fn the_engine_knows_nothing_of_the_wire_or_the_runtime() {
    let g = graph(1);
    let room: Vec<_> = g.get("room").into_iter().flatten().collect();
    assert!(room.is_empty(), "src/room/ depends on {room:?}");
    for file in rust_files(&Path::new(ROOT).join("src/room")) {
        // The engine's own tests may round-trip commands through JSON as the journal does.
        if file
            .file_name()
            .is_some_and(|n| n.to_string_lossy().ends_with("tests.rs"))
        {
            continue;
        }
        let code = code_of(&file);
        for banned in [
            "crate::protocol",
            "tokio",
            "serde_json::to_string",
            "std::net",
        ] {
            assert!(!code.contains(banned), "{} names {banned}", file.display());
        }
    }
}

#[test]
fn the_checker_sees_a_cycle_when_there_is_one() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    assert_eq!(find_cycle(&g), None);
    g.entry("c".into()).or_default().insert("a".into());
    assert_eq!(find_cycle(&g).map(|c| c.len()), Some(4));
    let code = "use crate::room::view::{A, B};\nlet x = super::Session::new();";
    assert_eq!(
        paths_after(code, "crate::"),
        vec![vec!["room", "view"]],
        "the path stops at the brace"
    );
    assert_eq!(paths_after(code, "super::"), vec![vec!["Session", "new"]]);
}

fn protocol_doc() -> String {
    std::fs::read_to_string(Path::new(ROOT).join("docs/protocol.md")).expect("docs/protocol.md")
}

#[test]
fn docs_protocol_names_every_message_type() {
    let doc = protocol_doc();
    let named =
        |t: &str| doc.contains(&format!("`{t}`")) || doc.contains(&format!("\"type\":\"{t}\""));
    let missing: Vec<&str> = ClientMsg::VARIANTS
        .iter()
        .chain(ServerMsg::VARIANTS)
        .copied()
        .filter(|t| !named(t))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/protocol.md never names {missing:?}"
    );
}

#[test]
fn docs_protocol_has_a_row_for_every_error_and_close_code() {
    let doc = protocol_doc();
    let missing: Vec<&str> = ErrorCode::VARIANTS
        .iter()
        .map(|c| c.as_str())
        .filter(|c| !doc.contains(&format!("| `{c}` |")))
        .collect();
    assert!(missing.is_empty(), "no row for error codes {missing:?}");
    let missing: Vec<u16> = close::ALL
        .into_iter()
        .filter(|c| !doc.contains(&format!("| {c} |")))
        .collect();
    assert!(missing.is_empty(), "no row for close codes {missing:?}");
}
