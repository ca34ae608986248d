//! The shape of the code, checked so it stays as the review left it (issue 30): no
//! import circles between the modules of a crate, no function over 80 lines outside
//! tests. A plain reading of the sources (paths in `crate::…` and `super::…`, braces),
//! not a parser: enough for code that rustfmt has formatted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
const CRATES: [&str; 2] = ["edge/src", "host-train/src"];
const MAX_LINES: usize = 80;

type Module = Vec<String>;

/// Every `.rs` file under `dir` with its module path (`a/b/mod.rs` and `a/b.rs` are `a::b`).
fn modules(dir: &Path) -> BTreeMap<Module, PathBuf> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(dir).unwrap().with_extension("");
                let mut m: Module = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
                if matches!(m.last().map(String::as_str), Some("mod" | "lib" | "main")) {
                    m.pop();
                }
                out.insert(m, path);
            }
        }
    }
    out
}

/// The source without comments and without its `#[cfg(test)] mod tests { … }` tail.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap();
    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// The modules `m` names through `crate::` or `super::`, as the longest known prefix.
fn references(m: &Module, path: &Path, known: &BTreeMap<Module, PathBuf>) -> BTreeSet<Module> {
    let src = code(path);
    let mut found = BTreeSet::new();
    for (i, _) in src.match_indices("crate::").chain(src.match_indices("super::")) {
        let tail: String = src[i..].chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
        let mut segs: Vec<&str> = tail.split("::").filter(|s| !s.is_empty()).collect();
        let mut base: Module = Vec::new();
        if segs.first() == Some(&"crate") {
            segs.remove(0);
        } else {
            // `super` in a.rs or a/mod.rs is the parent of module a.
            base = m.clone();
            while segs.first() == Some(&"super") {
                segs.remove(0);
                base.pop();
            }
        }
        let full: Module = base.into_iter().chain(segs.iter().map(|s| s.to_string())).collect();
        if let Some(k) = (1..=full.len()).rev().find(|&k| known.contains_key(&full[..k])) {
            found.insert(full[..k].to_vec());
        }
    }
    // A module and its own ancestors or descendants are one room, not a circle.
    found.retain(|r| !(r.starts_with(m) || m.starts_with(r)));
    found
}

/// The modules of one crate that sit on a circle (reach themselves).
fn circles(dir: &Path) -> Vec<String> {
    let known = modules(dir);
    let edges: BTreeMap<Module, BTreeSet<Module>> =
        known.iter().map(|(m, p)| (m.clone(), references(m, p, &known))).collect();
    let mut on_circle = Vec::new();
    for start in edges.keys() {
        let (mut seen, mut todo) = (BTreeSet::new(), edges[start].iter().cloned().collect::<Vec<_>>());
        while let Some(m) = todo.pop() {
            if &m == start {
                on_circle.push(start.join("::"));
                break;
            }
            if seen.insert(m.clone()) {
                todo.extend(edges.get(&m).into_iter().flatten().cloned());
            }
        }
    }
    on_circle
}

/// Functions over [`MAX_LINES`] lines (outside tests): `file:line name (lines)`.
fn long_functions(path: &Path) -> Vec<String> {
    let src = code(path);
    let lines: Vec<&str> = src.lines().collect();
    let mut long = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let Some(name) = ["fn ", "pub fn ", "pub(crate) fn ", "pub(super) fn ", "const fn ", "pub const fn "]
            .iter()
            .find_map(|p| t.strip_prefix(p))
        else {
            continue;
        };
        let (mut depth, mut opened, mut end) = (0i64, false, i);
        for (j, l) in lines.iter().enumerate().skip(i) {
            depth += l.matches('{').count() as i64 - l.matches('}').count() as i64;
            opened |= l.contains('{');
            end = j;
            if (opened && depth <= 0) || (!opened && l.trim_end().ends_with(';')) {
                break;
            }
        }
        if end + 1 - i > MAX_LINES {
            let name: String = name.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            long.push(format!("{}:{} {name} ({} lines)", path.display(), i + 1, end + 1 - i));
        }
    }
    long
}

#[test]
fn no_import_circles_in_either_crate() {
    for dir in CRATES {
        let found = circles(&Path::new(REPO).join(dir));
        assert!(found.is_empty(), "{dir}: modules on an import circle: {found:?}");
    }
}

#[test]
fn no_function_over_80_lines_outside_tests() {
    let mut long = Vec::new();
    for dir in CRATES {
        for path in modules(&Path::new(REPO).join(dir)).values() {
            if path.file_name().is_some_and(|n| n != "tests.rs") {
                long.extend(long_functions(path));
            }
        }
    }
    assert!(long.is_empty(), "functions over {MAX_LINES} lines:\n{}", long.join("\n"));
}

#[test]
fn the_checks_see_what_they_look_for() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write("lib.rs", "pub mod a;\npub mod b;\n");
    write("a.rs", "use crate::b::thing;\npub fn f() {}\n");
    write("b.rs", &format!("use super::a::f;\npub fn thing() {{\n{}}}\n", "    f();\n".repeat(81)));
    let mut found = circles(dir.path());
    found.sort();
    assert_eq!(found, ["a", "b"]);
    let long = long_functions(&dir.path().join("b.rs"));
    assert!(long.len() == 1 && long[0].ends_with("thing (83 lines)"), "{long:?}");
}
