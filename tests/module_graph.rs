//! No module imports one that imports it back, directly or through others: checked on the sources of every
//! library crate of the workspace (tests excluded), so that layers stay layers.
//!
//! A module's dependencies are the paths it names — in `use` declarations (re-exports aside: a facade is not a
//! dependency) and inline (`crate::a::b`, `super::c`) — each resolved to the module that defines the item,
//! following re-exports. Two modules under one parent depend on each other when anything in one names anything
//! defined in the other; a module and its ancestor when one names an item the other defines itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type ModPath = Vec<String>;

/// One source file: its module path, the paths it names, and what it re-exports (name → path).
struct Module {
    uses: Vec<ModPath>,
    reexports: BTreeMap<String, ModPath>,
    globs_reexported: Vec<ModPath>,
}

fn module_path(src: &Path, file: &Path) -> Option<ModPath> {
    let rel = file.strip_prefix(src).ok()?;
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop()?;
    if parts.iter().any(|p| p == "tests") || last == "tests.rs" || last.starts_with("tests_") {
        return None;
    }
    match last.as_str() {
        "lib.rs" | "main.rs" | "mod.rs" => {}
        other => parts.push(other.strip_suffix(".rs")?.to_string()),
    }
    Some(parts)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The source without comments, string and character literals, and without the inline test module at its end.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == b'r'
            && matches!(b.get(i + 1), Some(b'"') | Some(b'#'))
            && !ident_before(b, i)
        {
            // Raw string: r"…" or r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push(c as char);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == b'"' && (0..hashes).all(|h| b.get(j + 1 + h) == Some(&b'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == b'\'' {
            // A character literal ('x', '\n', '\u{..}') or a lifetime ('a).
            let rest = &src[i + 1..];
            let len = if rest.starts_with('\\') {
                rest.find('\'').map(|e| e + 1)
            } else {
                let mut chars = rest.char_indices();
                match (chars.next(), chars.next()) {
                    (Some(_), Some((e, '\''))) => Some(e + 1),
                    _ => None,
                }
            };
            match len {
                Some(l) => {
                    out.push_str("' '");
                    i += 1 + l;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            let ch = src[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    match out.find("#[cfg(test)]") {
        Some(at) => out[..at].to_string(),
        None => out,
    }
}

fn ident_before(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

/// Expands a use tree (`a::{b, c::{d, e as f}, *}`) into paths; `self` in braces names the prefix itself. Each
/// path comes with the name it is imported as.
fn expand(tree: &str, prefix: &[String], out: &mut Vec<(ModPath, String)>) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let head: Vec<String> = segments(&tree[..open]);
        let mut base = prefix.to_vec();
        base.extend(head);
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let mut depth = 0;
        let mut start = 0;
        for (i, ch) in inner.char_indices() {
            match ch {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&inner[start..i], &base, out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        expand(&inner[start..], &base, out);
    } else if !tree.is_empty() {
        let (path, alias) = match tree.split_once(" as ") {
            Some((p, a)) => (p, Some(a.trim().to_string())),
            None => (tree, None),
        };
        let mut full = prefix.to_vec();
        let segs = segments(path);
        if segs == ["self"] {
            let name = alias.unwrap_or_else(|| full.last().cloned().unwrap_or_default());
            out.push((full, name));
            return;
        }
        full.extend(segs);
        let name = alias.unwrap_or_else(|| full.last().cloned().unwrap_or_default());
        out.push((full, name));
    }
}

fn segments(path: &str) -> Vec<String> {
    path.split("::")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Makes `path`, as written in module `at`, absolute (None for paths into other crates).
fn absolute(
    at: &ModPath,
    path: &[String],
    modules: &BTreeSet<ModPath>,
    is_mod_file: bool,
) -> Option<ModPath> {
    let first = path.first()?;
    match first.as_str() {
        "crate" => Some(path[1..].to_vec()),
        "self" => {
            let mut p = at.clone();
            p.extend(path[1..].iter().cloned());
            Some(p)
        }
        "super" => {
            let mut p = at.clone();
            let mut rest = path;
            while rest.first().is_some_and(|s| s == "super") {
                p.pop();
                rest = &rest[1..];
            }
            let _ = is_mod_file;
            p.extend(rest.iter().cloned());
            Some(p)
        }
        _ => {
            let mut child = at.clone();
            child.push(first.clone());
            modules.contains(&child).then(|| {
                let mut p = at.clone();
                p.extend(path.iter().cloned());
                p
            })
        }
    }
}

fn parse(at: &ModPath, code: &str, modules: &BTreeSet<ModPath>) -> Module {
    let mut m = Module {
        uses: Vec::new(),
        reexports: BTreeMap::new(),
        globs_reexported: Vec::new(),
    };
    let mut rest = code;
    let mut consumed = String::new();
    // `use` declarations.
    while let Some(pos) = find_word(rest, "use") {
        let before = &rest[..pos];
        consumed.push_str(before);
        let decl_start = pos + 3;
        let end = rest[decl_start..]
            .find(';')
            .map(|e| decl_start + e)
            .unwrap_or(rest.len());
        let tree = &rest[decl_start..end];
        let reexport = before.trim_end().ends_with("pub")
            || before.trim_end().ends_with(')') && before.trim_end().contains("pub(");
        let mut paths = Vec::new();
        expand(tree, &[], &mut paths);
        for (p, name) in paths {
            let Some(abs) = absolute(at, &p, modules, false) else {
                continue;
            };
            if reexport {
                if name == "*" {
                    let mut glob = abs.clone();
                    glob.pop();
                    m.globs_reexported.push(glob);
                } else {
                    m.reexports.insert(name, abs);
                }
            } else {
                m.uses.push(abs);
            }
        }
        consumed.push(' ');
        rest = &rest[end.min(rest.len())..];
    }
    consumed.push_str(rest);
    // Inline paths.
    for key in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(p) = consumed[from..].find(key) {
            let start = from + p;
            from = start + key.len();
            if ident_before(consumed.as_bytes(), start) {
                continue;
            }
            let end = consumed[start..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .map(|e| start + e)
                .unwrap_or(consumed.len());
            let path = segments(consumed[start..end].trim_end_matches(':'));
            if let Some(abs) = absolute(at, &path, modules, false) {
                m.uses.push(abs);
            }
        }
    }
    m
}

/// The next occurrence of `word` as a whole word at the start of a declaration.
fn find_word(s: &str, word: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(p) = s[from..].find(word) {
        let at = from + p;
        let after = b.get(at + word.len()).copied().unwrap_or(b' ');
        if !ident_before(b, at) && (after == b' ' || after == b'\n') {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// The module that defines what `path` names, following re-exports.
fn definer(
    path: &ModPath,
    modules: &BTreeSet<ModPath>,
    parsed: &BTreeMap<ModPath, Module>,
    depth: usize,
) -> Option<ModPath> {
    if depth > 16 {
        return None;
    }
    if modules.contains(path) {
        return Some(path.clone());
    }
    let (item, module) = path.split_last()?;
    let module = module.to_vec();
    if !modules.contains(&module) {
        return definer(&module, modules, parsed, depth + 1);
    }
    if let Some(m) = parsed.get(&module) {
        if let Some(target) = m.reexports.get(item) {
            return definer(target, modules, parsed, depth + 1);
        }
        for glob in &m.globs_reexported {
            let mut p = glob.clone();
            p.push(item.clone());
            if let Some(d) = definer(&p, modules, parsed, depth + 1) {
                if d != *glob || parsed.get(glob).is_some() {
                    return Some(d);
                }
            }
        }
    }
    Some(module)
}

fn check_crate(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut codes = BTreeMap::new();
    for f in &files {
        if let Some(mp) = module_path(src, f) {
            codes.insert(mp, code_only(&std::fs::read_to_string(f).unwrap()));
        }
    }
    let modules: BTreeSet<ModPath> = codes.keys().cloned().collect();
    let parsed: BTreeMap<ModPath, Module> = codes
        .iter()
        .map(|(mp, code)| (mp.clone(), parse(mp, code, &modules)))
        .collect();
    let mut edges: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
    let mut why: BTreeMap<(ModPath, ModPath), String> = BTreeMap::new();
    for (from, m) in &parsed {
        for u in &m.uses {
            let Some(to) = definer(u, &modules, &parsed, 0) else {
                continue;
            };
            if &to == from {
                continue;
            }
            let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
            let (a, b) = if common == from.len() || common == to.len() {
                (from.clone(), to.clone())
            } else {
                (from[..=common].to_vec(), to[..=common].to_vec())
            };
            why.entry((a.clone(), b.clone()))
                .or_insert_with(|| format!("{} names {}", show(from), u.join("::")));
            edges.entry(a).or_default().insert(b);
        }
    }
    cycles(&edges)
        .into_iter()
        .map(|c| {
            let steps: Vec<String> = c
                .windows(2)
                .map(|w| {
                    format!(
                        "{} -> {} ({})",
                        show(&w[0]),
                        show(&w[1]),
                        why.get(&(w[0].clone(), w[1].clone()))
                            .cloned()
                            .unwrap_or_default()
                    )
                })
                .collect();
            format!("{}: {}", src.display(), steps.join("; "))
        })
        .collect()
}

fn show(m: &ModPath) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

/// One cycle per strongly connected group found by depth-first search.
fn cycles(edges: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<Vec<ModPath>> {
    let mut found = Vec::new();
    let mut done: BTreeSet<ModPath> = BTreeSet::new();
    for start in edges.keys() {
        let mut stack: Vec<ModPath> = Vec::new();
        visit(start, edges, &mut stack, &mut done, &mut found);
    }
    found
}

fn visit(
    node: &ModPath,
    edges: &BTreeMap<ModPath, BTreeSet<ModPath>>,
    stack: &mut Vec<ModPath>,
    done: &mut BTreeSet<ModPath>,
    found: &mut Vec<Vec<ModPath>>,
) {
    if let Some(at) = stack.iter().position(|n| n == node) {
        let mut c = stack[at..].to_vec();
        c.push(node.clone());
        found.push(c);
        return;
    }
    if done.contains(node) {
        return;
    }
    stack.push(node.clone());
    for next in edges.get(node).into_iter().flatten() {
        visit(next, edges, stack, done, found);
    }
    stack.pop();
    done.insert(node.clone());
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut problems = Vec::new();
    let mut crates = 0;
    for e in std::fs::read_dir(root.join("crates")).unwrap().flatten() {
        let src = e.path().join("src");
        if src.is_dir() {
            crates += 1;
            problems.extend(check_crate(&src));
        }
    }
    problems.extend(check_crate(&root.join("src")));
    assert!(crates >= 9, "found the workspace's crates ({crates})");
    assert!(
        problems.is_empty(),
        "module cycles:\n{}",
        problems.join("\n")
    );
}

/// The checker itself finds a cycle between two sibling modules, through a re-export.
#[test]
fn a_cycle_through_a_reexport_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::write(
        src.join("lib.rs"),
        "mod a;\nmod b;\npub use b::Thing;\npub type Result = ();\n",
    )
    .unwrap();
    std::fs::write(src.join("a.rs"), "use crate::Thing;\npub struct A;\n").unwrap();
    std::fs::write(
        src.join("b.rs"),
        "// crate::a::A in a comment does not count\npub struct Thing(crate::a::A);\n",
    )
    .unwrap();
    let found = check_crate(src);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains("a -> b") && found[0].contains("b -> a"),
        "{found:?}"
    );
    std::fs::write(src.join("b.rs"), "pub struct Thing(crate::Result);\n").unwrap();
    assert!(
        check_crate(src).is_empty(),
        "an item of the crate root is no cycle"
    );
}
